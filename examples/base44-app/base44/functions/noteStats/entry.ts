import { createClientFromRequest } from "npm:@base44/sdk@0.8.50";

// How many notes the team has, how many are the caller's, and who wrote the latest: the
// caller's own view through `entities`, the whole table through `asServiceRole`.
Deno.serve(async (req) => {
  try {
    const base44 = createClientFromRequest(req);
    const user = await base44.auth.me();
    const mine = await base44.entities.Note.filter({ created_by: user.email });
    const all = await base44.asServiceRole.entities.Note.list("-created_date", 1000);
    return Response.json({
      user: user.email,
      mine: mine.length,
      total: all.length,
      latest: all[0]?.title ?? null,
    });
  } catch (error) {
    return Response.json({ error: String(error?.message ?? error) }, { status: 500 });
  }
});
