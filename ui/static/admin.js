// Admin pages: a button with data-opens="<dialog id>" opens that dialog as a modal (the
// confirmation of a delete, the password reset). Its Cancel closes it without a request
// (method=dialog); Escape does too. Delegated, so it needs nothing per button.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-opens]");
  if (!opener) return;
  const dialog = document.getElementById(opener.dataset.opens);
  if (dialog && !dialog.open) {
    dialog.showModal();
  }
});

// Users: each status follows the live stream (app.js re-dispatches every event as
// "inbox:event"), so an admin sees who is online without reloading.
document.addEventListener("inbox:event", (event) => {
  const ev = event.detail;
  if (!ev || ev.type !== "agent.presence_changed") return;
  document.querySelectorAll(`[data-presence="${Number(ev.data.user_id)}"]`).forEach((el) => {
    el.className = `presence-state is-${ev.data.status}`;
    el.textContent = ev.data.status.charAt(0).toUpperCase() + ev.data.status.slice(1);
  });
});

// Automation rules: each action row shows only what its chosen action needs (the team, the
// text...); without JavaScript every field shows, and the server reads the one it needs.
function showActionArgs(select) {
  const step = select.closest(".automation-step");
  if (!step) return;
  step.querySelectorAll(".automation-arg").forEach((arg) => {
    arg.hidden = !arg.dataset.for.split(" ").includes(select.value);
  });
}
document.querySelectorAll("[data-action-type]").forEach(showActionArgs);
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-action-type]")) showActionArgs(event.target);
});
