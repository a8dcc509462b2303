"use client";

import { useEffect, useState } from "react";

/** The notes, fetched from `/api/notes` in the browser; the form adds one. */
export default function Notes() {
  const [notes, setNotes] = useState(null);
  const [text, setText] = useState("");
  const [error, setError] = useState(null);

  async function load() {
    try {
      const res = await fetch("/api/notes", { cache: "no-store" });
      if (!res.ok) throw new Error(`GET /api/notes: ${res.status}`);
      setNotes((await res.json()).notes);
    } catch (e) {
      setError(String(e));
    }
  }

  useEffect(() => {
    load();
  }, []);

  async function add(event) {
    event.preventDefault();
    const res = await fetch("/api/notes", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text }),
    });
    if (!res.ok) {
      setError(`POST /api/notes: ${res.status}`);
      return;
    }
    setText("");
    await load();
  }

  return (
    <section>
      {error && <p role="alert">{error}</p>}
      {notes === null ? (
        <p>Loading…</p>
      ) : (
        <ul className="notes" data-testid="notes">
          {notes.map((n) => (
            <li key={n.id}>{n.text}</li>
          ))}
        </ul>
      )}
      <form onSubmit={add}>
        <input
          aria-label="New note"
          value={text}
          onChange={(e) => setText(e.target.value)}
          maxLength={200}
          required
        />
        <button type="submit">Add</button>
      </form>
    </section>
  );
}
