import { useEffect, useMemo, useState } from "preact/hooks";
import { execute, live, type LinkState } from "../shared/api";
import { fill } from "../shared/i18n";
import { Admin } from "./Admin";
import { ClientFolder } from "./Folder";
import { ClientOverview } from "./Clients";
import { Dashboard } from "./Dashboard";
import { Heartbeat, Login, Logout, SettingsQuery } from "./ops";
import { ENDPOINT, loadSession, storeSession, StammContext, type Session, type Stamm } from "./session";
import { t } from "./texts";
import { Notice } from "./util";

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash;
}

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const change = (next: Session | null) => {
    storeSession(next);
    setSession(next);
  };
  return session ? <Console session={session} signOut={() => change(null)} /> : <SignIn signedIn={change} />;
}

function SignIn({ signedIn }: { signedIn: (session: Session) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    try {
      const { login } = await execute(ENDPOINT, Login, { email: String(form.get("email")), password: String(form.get("password")) }, null);
      const counsellor = login.me.counsellor;
      if (!counsellor?.role) throw new Error(t.notFound);
      signedIn({ token: login.token, counsellorId: counsellor.id, displayName: counsellor.displayName, role: counsellor.role });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>{t.appName}</h1>
      <form onSubmit={submit} aria-describedby="signin-error">
        <label for="signin-email">{t.email}</label>
        <input id="signin-email" name="email" type="email" autocomplete="username" required autofocus />
        <label for="signin-password">{t.password}</label>
        <input id="signin-password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit" disabled={busy}>
          {t.signIn}
        </button>
        <div id="signin-error">{error ? <Notice error={new Error(fill(t.signInFailed, { message: (error as Error).message }))} /> : null}</div>
      </form>
    </main>
  );
}

/**
 * Signs of life three times per presence timeout, on every page of the console: an ONLINE
 * counsellor stays online while their console is open, and lapses to OFFLINE when it is closed.
 */
function useHeartbeat({ call }: Stamm) {
  useEffect(() => {
    let timer: ReturnType<typeof setInterval> | undefined;
    let stopped = false;
    call(SettingsQuery, {}).then(({ settings }) => {
      if (stopped) return;
      const every = Math.max(5, settings.presenceTimeoutSeconds / 3) * 1000;
      timer = setInterval(() => void call(Heartbeat, {}).catch(() => undefined), every);
    }, () => undefined);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
}

function Console({ session, signOut }: { session: Session; signOut: () => void }) {
  const [link, setLink] = useState<LinkState>("connecting");
  const ws = useMemo(() => live(ENDPOINT, () => session.token, setLink, signOut), [session.token]);
  useEffect(() => () => void ws.dispose(), [ws]);
  const stamm: Stamm = useMemo(
    () => ({
      session,
      ws,
      link,
      call: (document, variables) =>
        execute(ENDPOINT, document, variables, session.token).catch((error: { code?: string }) => {
          // An ended session (expired, revoked, deactivated): back to the sign-in.
          if (error.code === "UNAUTHENTICATED") signOut();
          throw error;
        }),
    }),
    [session, ws, link, signOut],
  );
  useHeartbeat(stamm);
  const hash = useHash();
  const [, section, id] = hash.replace(/^#\/?/, "/").split("/");
  const page = section || "dashboard";
  const leave = async () => {
    await execute(ENDPOINT, Logout, {}, session.token).catch(() => undefined);
    signOut();
  };
  const nav: [string, string][] = [
    ["dashboard", t.navDashboard],
    ["clients", t.navClients],
    ...(session.role === "ADMIN" ? ([["admin", t.navAdmin]] as [string, string][]) : []),
  ];
  return (
    <StammContext.Provider value={stamm}>
      <a class="skip" href="#main" onClick={(event) => (event.preventDefault(), document.getElementById("main")?.focus())}>
        {t.skip}
      </a>
      <header class="top">
        <span class="brand">Stamm</span>
        <nav aria-label={t.mainNav}>
          {nav.map(([key, label]) => (
            <a key={key} href={`#/${key}`} aria-current={page === key ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class={`link link-${link}`} role="status">
          {link === "online" ? t.live : link === "connecting" ? t.connecting : t.offline}
        </span>
        <span class="viewer">
          <strong data-testid="viewer-name">{session.displayName}</strong> <span>({t[`role${session.role}`]})</span>
        </span>
        <button type="button" onClick={leave}>
          {t.signOut}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {page === "clients" && id ? (
          <ClientFolder id={decodeURIComponent(id)} />
        ) : page === "clients" ? (
          <ClientOverview />
        ) : page === "admin" && session.role === "ADMIN" ? (
          <Admin />
        ) : (
          <Dashboard />
        )}
      </main>
    </StammContext.Provider>
  );
}
