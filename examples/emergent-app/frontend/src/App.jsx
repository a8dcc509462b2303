import { useEffect, useState } from 'react'

const BACKEND_URL = process.env.REACT_APP_BACKEND_URL
const API = `${BACKEND_URL}/api`

export default function App() {
  const [greeting, setGreeting] = useState('')
  const [classes, setClasses] = useState([])
  const [title, setTitle] = useState('')
  const [error, setError] = useState('')

  const load = async () => {
    try {
      const [hello, list] = await Promise.all([
        fetch(`${API}/`).then((r) => r.json()),
        fetch(`${API}/classes`).then((r) => r.json()),
      ])
      setGreeting(hello.message)
      setClasses(list)
    } catch (e) {
      setError(String(e))
    }
  }

  useEffect(() => {
    load()
  }, [])

  const add = async (event) => {
    event.preventDefault()
    const r = await fetch(`${API}/classes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title, coach: 'You' }),
    })
    if (r.ok) {
      setTitle('')
      load()
    } else {
      setError(`could not add: ${r.status}`)
    }
  }

  return (
    <main>
      <h1 id="greeting">{greeting || 'Loading…'}</h1>
      {error && <p role="alert">{error}</p>}
      <ul id="classes">
        {classes.map((c) => (
          <li key={c.id}>
            {c.title} with {c.coach} ({c.spots} spots)
          </li>
        ))}
      </ul>
      <form onSubmit={add}>
        <label>
          New class <input value={title} onChange={(e) => setTitle(e.target.value)} />
        </label>
        <button type="submit">Add</button>
      </form>
    </main>
  )
}
