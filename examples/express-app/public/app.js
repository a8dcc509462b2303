// Fetches the items from the API and renders them with the release that served them.
const list = document.getElementById("items");
const release = document.getElementById("release");

const res = await fetch("/api/items");
if (!res.ok) throw new Error(`/api/items answered ${res.status}`);
const data = await res.json();
release.textContent = data.release;
for (const item of data.items) {
  const li = document.createElement("li");
  li.textContent = item.title;
  li.dataset.id = String(item.id);
  list.append(li);
}
list.dataset.loaded = "true";
