import { useEffect, useMemo, useState } from "preact/hooks";
import type { AvailabilityFieldsFragment, Channel, FollowSubscription } from "../gql/graphql";
import { execute, follow, live, type LinkState } from "../shared/api";
import { fill } from "../shared/i18n";
import { AvailabilityLive, AvailabilityNow, ClientLogin, ClientLogout, Follow, Register, Submit } from "./ops";
import type { WidgetTexts } from "./texts";

type Followed = FollowSubscription["requestUpdated"];
/** "refused": the API answers, but not to this page's origin (not in STAMM_ALLOWED_ORIGINS). */
type Reach = LinkState | "refused";

function tokenKey(endpoint: string): string {
  return `stamm-chat-widget:${new URL(endpoint, location.href).href}`;
}

/** Whether the API's origin answers at all: an opaque no-cors request succeeds even when CORS refuses us. */
async function refusedByCors(endpoint: string): Promise<boolean> {
  try {
    await fetch(new URL("/healthz", new URL(endpoint, location.href)), { mode: "no-cors" });
    return true;
  } catch {
    return false;
  }
}

export function Widget({ endpoint, t }: { endpoint: string; t: WidgetTexts }) {
  const [token, setToken] = useState<string | null>(() => localStorage.getItem(tokenKey(endpoint)));
  const [reach, setReach] = useState<Reach>("connecting");
  const [availability, setAvailability] = useState<AvailabilityFieldsFragment | null>(null);
  const [requestId, setRequestId] = useState<string | null>(null);
  const remember = (next: string | null) => {
    if (next) localStorage.setItem(tokenKey(endpoint), next);
    else localStorage.removeItem(tokenKey(endpoint));
    setToken(next);
    setRequestId(null);
  };
  // One websocket per identity: signing in or out opens a new one with the new token.
  const ws = useMemo(
    () =>
      live(
        endpoint,
        () => token,
        (state) => setReach((r) => (r === "refused" && state !== "online" ? r : state)),
        // The client's session ended: go on as an anonymous visitor.
        () => remember(null),
      ),
    [endpoint, token],
  );
  useEffect(() => {
    let current = true;
    execute(endpoint, AvailabilityNow, {}, token).then(
      ({ availability: now }) => current && setAvailability(now),
      async (error: unknown) => {
        if (error instanceof TypeError && current && (await refusedByCors(endpoint))) setReach("refused");
        if ((error as { code?: string }).code === "UNAUTHENTICATED") remember(null);
      },
    );
    const stop = follow(ws, AvailabilityLive, {}, ({ availabilityChanged }) => {
      setAvailability(availabilityChanged);
      if (availabilityChanged.queuedRequest) setRequestId((id) => id ?? availabilityChanged.queuedRequest!.id);
    });
    return () => {
      current = false;
      stop();
      void ws.dispose();
    };
  }, [ws]);
  const signOut = () => {
    if (token) void execute(endpoint, ClientLogout, {}, token).catch(() => undefined);
    remember(null);
  };
  return (
    <section class="widget" aria-labelledby="stamm-title">
      <header>
        <h2 id="stamm-title">{t.title}</h2>
        {token && (
          <button type="button" class="link" onClick={signOut}>
            {t.signOut}
          </button>
        )}
      </header>
      <Connection reach={reach} t={t} />
      {availability && reach !== "refused" && <Lights availability={availability} t={t} />}
      {token && availability?.primaryCounsellor && <Primary presence={availability.primaryCounsellor} t={t} />}
      {reach === "refused" ? null : !token ? (
        <SignIn endpoint={endpoint} signedIn={remember} t={t} />
      ) : requestId ? (
        <Progress ws={ws} id={requestId} again={() => setRequestId(null)} t={t} />
      ) : (
        <Compose endpoint={endpoint} token={token} availability={availability} sent={setRequestId} t={t} />
      )}
    </section>
  );
}

function Connection({ reach, t }: { reach: Reach; t: WidgetTexts }) {
  const text = reach === "refused" ? t.refused : reach === "offline" ? t.offline : reach === "connecting" ? t.connecting : "";
  return (
    <p class={`connection ${reach}`} role="status" data-state={reach}>
      {text}
    </p>
  );
}

function Lights({ availability, t }: { availability: AvailabilityFieldsFragment; t: WidgetTexts }) {
  const line = (label: string, on: boolean, channel: string) => (
    <li data-channel={channel} data-available={String(on)}>
      <span class={on ? "dot on" : "dot"} aria-hidden="true" />
      {label}: {on ? t.availableNow : t.notNow}
    </li>
  );
  return (
    <ul class="lights" aria-live="polite">
      {line(t.chat, availability.chatAvailable, "chat")}
      {line(t.mail, availability.mailAvailable, "mail")}
    </ul>
  );
}

function Primary({ presence, t }: { presence: NonNullable<AvailabilityFieldsFragment["primaryCounsellor"]>; t: WidgetTexts }) {
  return (
    <div class="primary" aria-live="polite">
      <p>
        {t.yourPrimary}: <strong>{presence.displayName}</strong> ({t[`presence${presence.onlineStatus}`]})
      </p>
      {presence.absent && (
        <p class="absence">
          <strong>{t.absent}:</strong> {presence.absenceMessage}
        </p>
      )}
    </div>
  );
}

function useFormAction(): [unknown, boolean, (work: () => Promise<void>) => Promise<void>] {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return [error, busy, run];
}

function Failure({ error, t }: { error: unknown; t: WidgetTexts }) {
  return error ? (
    <p class="error" role="alert">
      {fill(t.error, { message: (error as Error).message })}
    </p>
  ) : null;
}

function SignIn({ endpoint, signedIn, t }: { endpoint: string; signedIn: (token: string) => void; t: WidgetTexts }) {
  const [registering, setRegistering] = useState(false);
  const [error, busy, run] = useFormAction();
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const email = String(form.get("email"));
    const password = String(form.get("password"));
    void run(async () => {
      const session = registering
        ? (await execute(endpoint, Register, { input: { displayName: String(form.get("name")), email, password } }, null)).registerClient
        : (await execute(endpoint, ClientLogin, { email, password }, null)).login;
      if (session.me.role !== "CLIENT") throw new Error(t.notClient);
      signedIn(session.token);
    });
  };
  return (
    <form onSubmit={submit} class="signin">
      <div class="tabs" role="group">
        <button type="button" aria-pressed={!registering} onClick={() => setRegistering(false)}>
          {t.signIn}
        </button>
        <button type="button" aria-pressed={registering} onClick={() => setRegistering(true)}>
          {t.register}
        </button>
      </div>
      {registering && (
        <>
          <label for="w-name">{t.name}</label>
          <input id="w-name" name="name" required autocomplete="nickname" />
        </>
      )}
      <label for="w-email">{t.email}</label>
      <input id="w-email" name="email" type="email" required autocomplete="email" />
      <label for="w-password">{t.password}</label>
      <input id="w-password" name="password" type="password" required minLength={registering ? 8 : undefined} autocomplete={registering ? "new-password" : "current-password"} />
      <button type="submit" disabled={busy}>
        {registering ? t.register : t.signIn}
      </button>
      <Failure error={error} t={t} />
    </form>
  );
}

function Compose(props: { endpoint: string; token: string; availability: AvailabilityFieldsFragment | null; sent: (id: string) => void; t: WidgetTexts }) {
  const { endpoint, token, availability, sent, t } = props;
  const [channel, setChannel] = useState<Channel>(availability && !availability.chatAvailable && availability.mailAvailable ? "MAIL" : "CHAT");
  const [error, busy, run] = useFormAction();
  // One key per written message: a retry after a network loss returns the first request.
  const [key] = useState(() => crypto.randomUUID?.() ?? String(Math.random()).slice(2));
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const subject = String(form.get("subject") ?? "").trim();
    void run(async () => {
      const input = { channel, message: String(form.get("message")), subject: subject || null, idempotencyKey: key };
      sent((await execute(endpoint, Submit, { input }, token)).submitRequest.id);
    });
  };
  return (
    <form onSubmit={submit} class="compose">
      <fieldset>
        <legend>{t.channel}</legend>
        {(["CHAT", "MAIL"] as const).map((each) => (
          <label key={each} class="inline">
            <input type="radio" name="channel" value={each} checked={channel === each} onChange={() => setChannel(each)} />
            {each === "CHAT" ? t.chat : t.mail}
          </label>
        ))}
      </fieldset>
      {channel === "MAIL" && (
        <>
          <label for="w-subject">{t.subject}</label>
          <input id="w-subject" name="subject" />
        </>
      )}
      <label for="w-message">{t.message}</label>
      <textarea id="w-message" name="message" rows={4} required />
      <button type="submit" disabled={busy}>
        {t.send}
      </button>
      <Failure error={error} t={t} />
    </form>
  );
}

function Progress({ ws, id, again, t }: { ws: ReturnType<typeof live>; id: string; again: () => void; t: WidgetTexts }) {
  const [request, setRequest] = useState<Followed | null>(null);
  useEffect(() => follow(ws, Follow, { id }, ({ requestUpdated }) => setRequest(requestUpdated)), [ws, id]);
  if (!request) return null;
  const done = request.status === "CLOSED" || request.status === "CANCELLED";
  return (
    <div class="progress" role="status" aria-live="polite" data-status={request.status}>
      {request.status === "QUEUED" && (
        <>
          <p>{fill(t.queued, { position: request.queuePosition ?? "?" })}</p>
          {request.estimatedWaitSeconds != null && <p>{fill(t.wait, { minutes: Math.max(1, Math.round(request.estimatedWaitSeconds / 60)) })}</p>}
        </>
      )}
      {request.status === "ASSIGNED" && <p>{fill(t.assigned, { name: request.counsellor?.displayName ?? "" })}</p>}
      {request.status === "CLOSED" && <p>{t.closed}</p>}
      {request.status === "CANCELLED" && <p>{t.cancelled}</p>}
      {done && (
        <button type="button" onClick={again}>
          {t.another}
        </button>
      )}
    </div>
  );
}
