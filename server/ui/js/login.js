// The login page, shown instead of every page while the server requires
// credentials and the tab has none that it accepts: a user name and
// password, or a bearer token. The attempt is a GET /api/v1/me with the
// new credentials; a 401 shows the server's message, a success keeps the
// Authorization value in sessionStorage (api.js) and hands /me's answer
// to `signedIn`.

import * as api from "./api.js";
import { h, replace } from "./dom.js";

export function render(main, { notice, signedIn }) {
  const user = h("input", { id: "login-user", name: "username", type: "text", autocomplete: "username", spellcheck: "false", autocapitalize: "none", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const token = h("input", { id: "login-token", name: "token", type: "password", autocomplete: "off", spellcheck: "false" });
  const byPassword = h("input", { type: "radio", name: "method", id: "method-password", value: "password", checked: true });
  const byToken = h("input", { type: "radio", name: "method", id: "method-token", value: "token" });
  const passwordFields = h("div", { class: "login-fields" },
    h("div", { class: "field" }, h("label", { for: "login-user" }, "User name"), user),
    h("div", { class: "field" }, h("label", { for: "login-password" }, "Password"), password));
  const tokenFields = h("div", { class: "login-fields", hidden: true },
    h("div", { class: "field" }, h("label", { for: "login-token" }, "Bearer token"), token));
  const submit = h("button", { type: "submit", "data-field": "sign-in" }, "Sign in");
  const error = h("div", { "data-field": "login-error", role: "alert" },
    notice ? h("p", { class: "error" }, notice) : null);

  const method = () => (byToken.checked ? "token" : "password");
  const switchMethod = () => {
    const t = method() === "token";
    passwordFields.hidden = t;
    tokenFields.hidden = !t;
    user.required = !t;
    password.required = !t;
    token.required = t;
  };
  byPassword.addEventListener("change", switchMethod);
  byToken.addEventListener("change", switchMethod);

  const form = h("form", {
    class: "login card",
    "aria-labelledby": "login-title",
    onsubmit: async (e) => {
      e.preventDefault();
      const auth = method() === "token" ? api.bearer(token.value) : api.basic(user.value, password.value);
      submit.disabled = true;
      replace(error, h("p", { class: "muted" }, "Signing in…"));
      try {
        const me = await api.me(auth);
        api.remember(auth);
        password.value = "";
        token.value = "";
        signedIn(me);
      } catch (err) {
        replace(error, h("p", { class: "error" }, err.status === 401
          ? `Not signed in: ${err.message} — check the user name and password (or the token).`
          : `${err.message} (${err.kind})`));
        // Type it again: the user name stays, the secret goes.
        const secret = method() === "token" ? token : password;
        secret.value = "";
        secret.focus();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h("h1", { id: "login-title" }, "Sign in to Strata"),
  h("p", {}, "This server requires credentials."),
  h("fieldset", { class: "method" },
    h("legend", {}, "Sign in with"),
    h("label", { for: "method-password" }, byPassword, " user name and password"),
    h("label", { for: "method-token" }, byToken, " a bearer token")),
  passwordFields,
  tokenFields,
  h("div", { class: "buttons" }, submit),
  error,
  h("p", { class: "small muted" },
    "Your credentials stay in this browser tab only and go with each request to this server; ",
    "Sign out or closing the tab forgets them."));
  main.append(form);
  user.focus();
  return null;
}
