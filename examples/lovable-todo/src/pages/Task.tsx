import { useParams } from "react-router-dom";
import { TASKS } from "@/tasks";

export default function TaskPage() {
  const { id } = useParams();
  const task = TASKS.find((t) => String(t.id) === id);
  if (!task) return <h1>No such task</h1>;
  return (
    <>
      <h1 data-testid="task-title">{task.title}</h1>
      <p>{task.done ? "Done" : "To do"}</p>
    </>
  );
}
