// A little help on top of pages that work without JavaScript:
// "select all" on the worklist, and a count of the selected releases.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("markform");
  if (!form) return;
  const boxes = () => form.querySelectorAll("input[name=mbid]");
  const button = form.querySelector("button[type=submit]");
  const update = () => {
    const n = [...boxes()].filter((b) => b.checked).length;
    button.textContent = n ? `Mark ${n} selected` : "Mark selected";
  };
  form.querySelector(".select-all")?.addEventListener("change", (e) => {
    boxes().forEach((b) => { b.checked = e.target.checked; });
    update();
  });
  form.addEventListener("change", update);
});
