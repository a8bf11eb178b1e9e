// A little help on top of pages that work without JavaScript:
// "select all" on the worklist, a count of the selected releases, and the
// bulk mark's confirmation as a dialog (without JavaScript the form goes to
// the confirmation page, /mark/confirm, instead).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("markform");
  if (!form) return;
  const boxes = () => form.querySelectorAll("input[name=mbid]");
  const chosen = () => [...boxes()].filter((b) => b.checked).length;
  const button = form.querySelector("button[type=submit]");
  const update = () => {
    const n = chosen();
    button.textContent = n ? `Mark ${n} selected` : "Mark selected";
  };
  form.querySelector(".select-all")?.addEventListener("change", (e) => {
    boxes().forEach((b) => { b.checked = e.target.checked; });
    update();
  });
  form.addEventListener("change", update);
  form.addEventListener("submit", (e) => {
    const n = chosen();
    const status = form.querySelector("select[name=status]").value;
    if (!n || !status) return;  // the server says what is missing
    if (window.confirm(`Mark ${n} release(s) as ${status}?`)) {
      form.action = form.dataset.confirmedAction;
    } else {
      e.preventDefault();
    }
  });
});
