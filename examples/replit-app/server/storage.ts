import type { InsertMessage, Message } from "@shared/schema";

export interface IStorage {
  listMessages(): Promise<Message[]>;
  addMessage(message: InsertMessage): Promise<Message>;
}

/** The first message every fresh start shows. */
export const WELCOME = "Welcome to the message board!";

export class MemStorage implements IStorage {
  private messages = new Map<number, Message>();
  private nextId = 1;

  constructor() {
    void this.addMessage({ author: "replit", text: WELCOME });
  }

  async listMessages(): Promise<Message[]> {
    return Array.from(this.messages.values());
  }

  async addMessage(message: InsertMessage): Promise<Message> {
    const stored: Message = {
      ...message,
      id: this.nextId++,
      createdAt: new Date().toISOString(),
    };
    this.messages.set(stored.id, stored);
    return stored;
  }
}

export const storage = new MemStorage();
