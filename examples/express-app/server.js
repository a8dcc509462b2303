// A Replit-style Express app: serves public/ and a small JSON API from one process.
// Listens on $PORT (ferry gives each process a fresh loopback port); APP_VERSION names the
// release the API reports (set it with `ferry env set APP_VERSION=v2`).
import express from "express";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const app = express();

const items = [
  { id: 1, title: "Write the server" },
  { id: 2, title: "Run ferry up" },
  { id: 3, title: "Roll back in a blink" },
];

app.get("/healthz", (_req, res) => res.type("text/plain").send("ok"));
app.get("/api/items", (_req, res) => {
  res.json({ release: process.env.APP_VERSION || "v1", items });
});
app.use(express.static(path.join(here, "public")));

// ferry (like Replit) sets PORT; 3000 when run by hand.
const port = process.env.PORT || 3000;
const host = process.env.HOST || "0.0.0.0";
app.listen(port, host, () => {
  console.log(`express-app listening on http://${host}:${port}`);
});
