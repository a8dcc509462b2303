import { Link } from "react-router-dom";
import { TASKS } from "@/tasks";

export default function Index() {
  return (
    <>
      <h1>Task Board</h1>
      <ul>
        {TASKS.map((t) => (
          <li key={t.id} className={t.done ? "done" : ""}>
            <Link to={`/tasks/${t.id}`}>{t.title}</Link>
          </li>
        ))}
      </ul>
    </>
  );
}
