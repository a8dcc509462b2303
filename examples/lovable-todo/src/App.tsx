import { BrowserRouter, Link, Route, Routes } from "react-router-dom";
import Index from "./pages/Index";
import TaskPage from "./pages/Task";
import About from "./pages/About";
import NotFound from "./pages/NotFound";

export default function App() {
  return (
    <BrowserRouter>
      <nav>
        <Link to="/">Tasks</Link>
        <Link to="/about" data-testid="about-link">About</Link>
      </nav>
      <main>
        <Routes>
          <Route path="/" element={<Index />} />
          <Route path="/tasks/:id" element={<TaskPage />} />
          <Route path="/about" element={<About />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
    </BrowserRouter>
  );
}
