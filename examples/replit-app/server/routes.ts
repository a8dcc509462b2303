import type { Express } from "express";
import { createServer, type Server } from "http";
import { parseInsertMessage } from "@shared/schema";
import { storage } from "./storage";

export async function registerRoutes(app: Express): Promise<Server> {
  app.get("/api/messages", async (_req, res) => {
    res.json(await storage.listMessages());
  });

  app.post("/api/messages", async (req, res) => {
    const parsed = parseInsertMessage(req.body);
    if (typeof parsed === "string") return res.status(400).json({ message: parsed });
    res.status(201).json(await storage.addMessage(parsed));
  });

  const httpServer = createServer(app);
  return httpServer;
}
