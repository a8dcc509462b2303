// Rendered on every request (never prerendered at build time), so it shows the environment
// the running process was started with.
export const dynamic = "force-dynamic";

let renders = 0;

export default function RuntimeEnv() {
  renders += 1;
  const greeting = process.env.GREETING ?? "(GREETING is not set)";
  return (
    <>
      <h1>Runtime env</h1>
      <p>
        GREETING: <strong data-testid="greeting">{greeting}</strong>
      </p>
      <p>
        NODE_ENV: <code>{process.env.NODE_ENV}</code>; render <span data-testid="render">{renders}</span> of
        this process.
      </p>
    </>
  );
}
