import { useEffect, useState, type FormEvent } from "react";
import type { Message } from "@shared/schema";

async function fetchMessages(): Promise<Message[]> {
  const res = await fetch("/api/messages");
  if (!res.ok) throw new Error(`GET /api/messages: ${res.status}`);
  return res.json();
}

export default function App() {
  const [messages, setMessages] = useState<Message[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [author, setAuthor] = useState("");
  const [text, setText] = useState("");
  const [sending, setSending] = useState(false);

  useEffect(() => {
    fetchMessages().then(setMessages, (e: Error) => setError(e.message));
  }, []);

  async function post(event: FormEvent) {
    event.preventDefault();
    setSending(true);
    setError(null);
    try {
      const res = await fetch("/api/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ author, text }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(body.message ?? `POST /api/messages: ${res.status}`);
      setMessages((list) => [...(list ?? []), body as Message]);
      setText("");
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSending(false);
    }
  }

  return (
    <main>
      <h1>Message Board</h1>
      {error && <p role="alert" className="error">{error}</p>}
      {messages === null ? (
        <p>Loading…</p>
      ) : (
        <ul data-testid="messages">
          {messages.map((m) => (
            <li key={m.id}>
              <strong>{m.author}</strong>: {m.text}
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={post}>
        <input
          aria-label="Your name"
          placeholder="Your name"
          value={author}
          onChange={(e) => setAuthor(e.target.value)}
        />
        <input
          aria-label="Message"
          placeholder="Say something"
          value={text}
          onChange={(e) => setText(e.target.value)}
          required
        />
        <button type="submit" disabled={sending || text.trim() === ""}>
          Post
        </button>
      </form>
    </main>
  );
}
