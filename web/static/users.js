// The users page: rows follow what the API answered (role, enabled, deleted), and the
// password dialog sends the new password of the row it was opened from.
import { clearFormErrors, t } from "./app.js";

const dialog = document.getElementById("password-dialog");
const passwordForm = dialog && dialog.querySelector("form[data-password-form]");

/** Show a user as the API returned it in its row. */
function showUser(row, user) {
  const badge = row.querySelector("[data-user-enabled]");
  if (badge) {
    badge.textContent = t(user.enabled ? "enabled" : "disabled");
    badge.className = "badge " + (user.enabled ? "state-active" : "state-stopped");
  }
  const toggle = row.querySelector("[data-toggle-enabled]");
  if (toggle) {
    toggle.dataset.body = JSON.stringify({ enabled: !user.enabled });
    toggle.textContent = t(user.enabled ? "Disable" : "Enable");
    toggle.dataset.done = t(user.enabled ? "User disabled." : "User enabled.");
    if (user.enabled) {
      toggle.dataset.confirm = t("Disable %(name)s? They can no longer log in.").replace("%(name)s", user.name);
    } else {
      delete toggle.dataset.confirm;
    }
  }
  const role = row.querySelector("form[data-role-form] select[name=role]");
  if (role) role.value = user.role;
}

document.addEventListener("vrm:done", (event) => {
  if (event.target.closest("form[data-password-form]")) {
    passwordForm.reset();
    dialog.close();
    return;
  }
  const row = event.target.closest("tr[data-user-id]");
  if (!row) return;
  if (event.target.matches("[data-delete-user]")) row.remove();
  else if (event.detail) showUser(row, event.detail);
});

function openPasswordDialog(row) {
  passwordForm.reset();
  clearFormErrors(passwordForm);
  passwordForm.dataset.apiForm = `PATCH /users/${row.dataset.userId}`;
  dialog.querySelector("[data-password-user]").textContent = row.dataset.userName;
  dialog.showModal();
  passwordForm.querySelector("input[name=password]").focus();
}

document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-reset-password]");
  if (opener) openPasswordDialog(opener.closest("tr[data-user-id]"));
  if (event.target.closest("[data-close-dialog]")) dialog.close();
});
