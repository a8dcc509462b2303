// Types shared by the server and the client. The real template defines its tables with Drizzle
// here; this example keeps its messages in memory, so plain types and one input check do.

export interface Message {
  id: number;
  author: string;
  text: string;
  createdAt: string;
}

export type InsertMessage = Pick<Message, "author" | "text">;

export const MAX_TEXT = 500;

/** The message a request body describes, or why it is refused. */
export function parseInsertMessage(body: unknown): InsertMessage | string {
  if (typeof body !== "object" || body === null) return "expected a JSON object";
  const { author, text } = body as Record<string, unknown>;
  if (typeof text !== "string" || text.trim() === "") return "text is required";
  if (text.length > MAX_TEXT) return `text is longer than ${MAX_TEXT} characters`;
  if (author !== undefined && typeof author !== "string") return "author must be a string";
  return { author: (author ?? "").trim() || "anonymous", text: text.trim() };
}
