export type Task = { id: number; title: string; done: boolean };

export const TASKS: Task[] = [
  { id: 1, title: "Export the app from the builder", done: true },
  { id: 2, title: "Run ferry up", done: true },
  { id: 3, title: "Move the data", done: false },
];
