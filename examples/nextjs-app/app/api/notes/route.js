// An in-memory list: it lives as long as the process (each release has its own).
const notes = [{ id: 1, text: "Deployed with ferry" }];

export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ notes });
}

export async function POST(request) {
  let body;
  try {
    body = await request.json();
  } catch {
    return Response.json({ error: "expected a JSON body" }, { status: 400 });
  }
  const text = typeof body?.text === "string" ? body.text.trim() : "";
  if (!text || text.length > 200) {
    return Response.json({ error: "`text`: 1 to 200 characters" }, { status: 400 });
  }
  const note = { id: notes.length + 1, text };
  notes.push(note);
  return Response.json(note, { status: 201 });
}
