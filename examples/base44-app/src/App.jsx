import { useCallback, useEffect, useState } from "react";
import { base44 } from "./api/base44Client";

// Team Notes: sign in, write notes with an optional attachment, edit and delete your own,
// see the team's notes arrive live, and ask the `noteStats` backend function for a summary.
export default function App() {
  const [user, setUser] = useState(undefined);
  useEffect(() => {
    base44.auth.me().then(setUser, () => setUser(null));
  }, []);

  if (user === undefined) return <main><p>Loading…</p></main>;
  if (user === null) {
    return (
      <main>
        <h1>Team Notes</h1>
        <p>Sign in to see your team's notes.</p>
        <button onClick={() => base44.auth.redirectToLogin(window.location.href)}>Sign in</button>
      </main>
    );
  }
  return <Notes user={user} />;
}

function Notes({ user }) {
  const [notes, setNotes] = useState([]);
  const [error, setError] = useState("");
  const [stats, setStats] = useState(null);
  const [live, setLive] = useState(false);

  const load = useCallback(async () => {
    try {
      setNotes(await base44.entities.Note.list("-created_date", 100));
    } catch (e) {
      setError(e.message);
    }
  }, []);

  useEffect(() => {
    load();
    // Live list: every create, update or delete by anyone reloads it.
    const unsubscribe = base44.entities.Note.subscribe(() => load());
    setLive(true);
    return () => {
      setLive(false);
      unsubscribe();
    };
  }, [load]);

  const remove = async (note) => {
    await base44.entities.Note.delete(note.id);
    load();
  };

  const askStats = async () => {
    try {
      const response = await base44.functions.invoke("noteStats", {});
      setStats(response.data);
    } catch (e) {
      setError(e.message);
    }
  };

  return (
    <main>
      <header>
        <h1>Team Notes</h1>
        <div className="row">
          <span data-testid="whoami">{user.email}</span>
          <button className="secondary" onClick={() => base44.auth.logout(window.location.origin)}>
            Sign out
          </button>
        </div>
      </header>
      <NewNote onCreated={load} onError={setError} />
      {error && <p className="error" role="alert">{error}</p>}
      <h2>
        Notes <span className="meta">({notes.length}{live ? ", live" : ""})</span>
      </h2>
      <ul className="notes" aria-label="Notes">
        {notes.map((n) => (
          <NoteItem key={n.id} note={n} mine={n.created_by === user.email} onChanged={load} onDelete={remove} />
        ))}
      </ul>
      <section aria-label="Statistics">
        <button className="secondary" onClick={askStats}>Team statistics</button>
        {stats && (
          <p data-testid="stats">
            {stats.user}: {stats.mine} of {stats.total} notes are yours; latest: {stats.latest ?? "none"}
          </p>
        )}
      </section>
    </main>
  );
}

function NewNote({ onCreated, onError }) {
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [file, setFile] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      let attachment_url;
      if (file) {
        ({ file_url: attachment_url } = await base44.integrations.Core.UploadFile({ file }));
      }
      await base44.entities.Note.create({ title, body, attachment_url });
      setTitle("");
      setBody("");
      setFile(null);
      e.target.reset();
      onCreated();
    } catch (err) {
      onError(err.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="new" onSubmit={submit}>
      <label htmlFor="title">Title</label>
      <input id="title" type="text" value={title} onChange={(e) => setTitle(e.target.value)} required />
      <label htmlFor="body">Note</label>
      <textarea id="body" value={body} onChange={(e) => setBody(e.target.value)} rows={3} />
      <label htmlFor="attachment">Attachment</label>
      <input id="attachment" type="file" accept="image/*" onChange={(e) => setFile(e.target.files[0] ?? null)} />
      <button type="submit" disabled={busy}>{busy ? "Saving…" : "Add note"}</button>
    </form>
  );
}

function NoteItem({ note, mine, onChanged, onDelete }) {
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(note.title);

  const save = async (e) => {
    e.preventDefault();
    await base44.entities.Note.update(note.id, { title });
    setEditing(false);
    onChanged();
  };

  return (
    <li data-testid="note">
      {editing ? (
        <form className="row" onSubmit={save}>
          <label htmlFor={`edit-${note.id}`}>New title</label>
          <input id={`edit-${note.id}`} type="text" value={title} onChange={(e) => setTitle(e.target.value)} required />
          <button type="submit">Save</button>
        </form>
      ) : (
        <strong data-testid="note-title">{note.title}</strong>
      )}
      {note.body && <p>{note.body}</p>}
      {note.attachment_url && <img className="attachment" src={note.attachment_url} alt={`Attachment of ${note.title}`} />}
      <div className="row meta">
        <span>by {note.created_by}</span>
        {mine && !editing && (
          <>
            <button className="secondary" onClick={() => setEditing(true)} aria-label={`Edit ${note.title}`}>Edit</button>
            <button className="secondary" onClick={() => onDelete(note)} aria-label={`Delete ${note.title}`}>Delete</button>
          </>
        )}
      </div>
    </li>
  );
}
