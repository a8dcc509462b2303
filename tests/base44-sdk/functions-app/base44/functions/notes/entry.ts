// A Base44 backend function as the 2026 template writes them: the SDK from npm, the caller's
// client from the request, `asServiceRole` for what the caller may not do.
import { createClientFromRequest } from "npm:@base44/sdk@0.8.20";

async function input(req: Request): Promise<Record<string, unknown>> {
  const type = req.headers.get("content-type") ?? "";
  if (type.startsWith("multipart/form-data")) {
    const form = await req.formData();
    const file = form.get("file");
    return {
      action: "upload",
      title: form.get("title"),
      file_name: file instanceof File ? file.name : null,
      file_text: file instanceof File ? await file.text() : null,
    };
  }
  if (req.method === "GET") return { action: "anonymous" };
  return await req.json().catch(() => ({}));
}

Deno.serve(async (req) => {
  const base44 = createClientFromRequest(req);
  const body = await input(req);
  switch (body.action) {
    case "me": {
      const user = await base44.auth.me();
      return Response.json({ id: user.id, email: user.email });
    }
    case "create": {
      const note = await base44.entities.Note.create({ text: body.text });
      return Response.json({ id: note.id, created_by: note.created_by });
    }
    case "forbidden": {
      try {
        await base44.entities.AuditLog.create({ event: "by a user" });
        return Response.json({ refused: false });
      } catch (e) {
        return Response.json({ refused: true, status: e.status ?? null });
      }
    }
    case "audit": {
      const row = await base44.asServiceRole.entities.AuditLog.create({ event: String(body.event) });
      return Response.json({ id: row.id });
    }
    case "all": {
      const all = await base44.asServiceRole.entities.Note.list("-created_date", 500);
      const mine = await base44.entities.Note.list("-created_date", 500);
      return Response.json({ all: all.map((n) => n.text), mine: mine.map((n) => n.text) });
    }
    case "teapot":
      return new Response(JSON.stringify({ brewed: false, reason: "a teapot" }), {
        status: 418,
        headers: { "content-type": "application/json", "x-function": "notes" },
      });
    case "leak": {
      // What a careless (or hostile) function could send back: ferry must scrub it.
      const service = req.headers.get("Base44-Service-Authorization") ?? "";
      return Response.json(
        { service, api: req.headers.get("Base44-Api-Url"), app: req.headers.get("Base44-App-Id") },
        { headers: { "x-echo": service } },
      );
    }
    case "upload":
      return Response.json(body);
    case "anonymous":
    default:
      return Response.json({
        hello: "world",
        signed_in: req.headers.has("authorization"),
        method: req.method,
        query: new URL(req.url).searchParams.get("q"),
      });
  }
});
