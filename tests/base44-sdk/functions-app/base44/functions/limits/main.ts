// Misbehaves on demand, for ferry's time and memory limits; otherwise says which process answered.
Deno.serve(async (req) => {
  const { action, ms } = await req.json().catch(() => ({}));
  if (action === "sleep") {
    await new Promise((resolve) => setTimeout(resolve, Number(ms)));
    return Response.json({ slept: ms });
  }
  if (action === "hog") {
    const kept: number[][] = [];
    for (;;) kept.push(new Array(1_000_000).fill(kept.length));
  }
  return Response.json({ pid: Deno.pid });
});
