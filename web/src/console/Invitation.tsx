// /invitation?token=...: an invited client or counsellor sets their password and is signed in.
import { useState } from "preact/hooks";
import { execute } from "../shared/api";
import { AcceptInvitation } from "./ops";
import { ENDPOINT, storeSession } from "./session";
import { t } from "./texts";
import { Notice } from "./util";

export function Invitation() {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [client, setClient] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const password = String(form.get("password"));
    if (password !== String(form.get("repeat"))) return setError(new Error(t.passwordsDiffer));
    setBusy(true);
    try {
      const { acceptInvitation: session } = await execute(ENDPOINT, AcceptInvitation, { token, password }, null);
      const counsellor = session.me.counsellor;
      if (counsellor?.role) {
        storeSession({ token: session.token, counsellorId: counsellor.id, displayName: counsellor.displayName, role: counsellor.role });
        location.replace("/app/");
        return;
      }
      // A client: the chat widget on this origin picks the session up (its storage key).
      localStorage.setItem(`stamm-chat-widget:${new URL(ENDPOINT, location.href).href}`, session.token);
      setClient(session.me.client?.displayName ?? "");
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>{t.invitationTitle}</h1>
      {client !== null ? (
        <div role="status">
          <p>{t.invitationDone}</p>
          <p>
            <a href="/widget-demo">{t.toWidget}</a>
          </p>
        </div>
      ) : !token ? (
        <Notice error={new Error(t.invitationNoToken)} />
      ) : (
        <form onSubmit={submit}>
          <p>{t.invitationIntro}</p>
          <label for="invitation-password">{t.newPassword}</label>
          <input id="invitation-password" name="password" type="password" autocomplete="new-password" minLength={8} required autofocus aria-describedby="invitation-hint" />
          <small id="invitation-hint" class="hint">
            {t.passwordHint}
          </small>
          <label for="invitation-repeat">{t.repeatPassword}</label>
          <input id="invitation-repeat" name="repeat" type="password" autocomplete="new-password" minLength={8} required />
          <button type="submit" disabled={busy}>
            {t.setPassword}
          </button>
          <Notice error={error} />
        </form>
      )}
    </main>
  );
}
