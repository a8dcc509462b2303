import { createClient } from "@base44/sdk";

// The vite plugin injects the app id and the server URL at build time.
export const base44 = createClient({});
