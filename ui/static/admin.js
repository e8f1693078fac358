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
