import { useEffect, useState } from "preact/hooks";
import type { CounsellorStateFragment, MailAvailability, OnlineStatus, RequestFieldsFragment } from "../gql/graphql";
import { follow } from "../shared/api";
import { fill } from "../shared/i18n";
import {
  AcceptRequest,
  CloseRequest,
  CounsellorChanged,
  MyRequests,
  MyRequestUpdates,
  MyState,
  RequestAssigned,
  SetAbsence,
  SetChatCapacity,
  SetMailAvailability,
  SetOnlineStatus,
} from "./ops";
import { useStamm } from "./session";
import { t } from "./texts";
import { Notice, when } from "./util";

const STATUSES: OnlineStatus[] = ["ONLINE", "AWAY", "OFFLINE"];
const MAIL_MODES: MailAvailability[] = ["UNLIMITED", "NONE", "BY_FREE_RESOURCES"];

export function Dashboard() {
  const { session, call, ws } = useStamm();
  const [me, setMe] = useState<CounsellorStateFragment | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    call(MyState, { id: session.counsellorId }).then(({ counsellor }) => counsellor && setMe(counsellor), setError);
    return follow(ws, CounsellorChanged, { id: session.counsellorId }, (data) => setMe(data.counsellorAvailabilityChanged), setError);
  }, [session.counsellorId]);
  return (
    <div class="dashboard">
      <h1>{t.navDashboard}</h1>
      <Notice error={error} />
      {me ? (
        <div class="columns">
          <MyAvailability me={me} changed={setMe} />
          <div>
            <Load me={me} />
            <Requests />
          </div>
        </div>
      ) : (
        <p>{t.loading}</p>
      )}
    </div>
  );
}

function MyAvailability({ me, changed }: { me: CounsellorStateFragment; changed: (me: CounsellorStateFragment) => void }) {
  const { call, session } = useStamm();
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState<string | null>(null);
  const run = (work: Promise<CounsellorStateFragment>) =>
    work.then(
      (next) => (changed(next), setError(null), setOk(t.saved)),
      (failure: unknown) => (setError(failure), setOk(null)),
    );
  const [capacity, setCapacity] = useState(String(me.chatCapacity ?? 0));
  const [mode, setMode] = useState<MailAvailability>(me.mailAvailability ?? "NONE");
  const [resources, setResources] = useState(String(me.mailResources ?? 0));
  const [absent, setAbsent] = useState(me.absent);
  const [message, setMessage] = useState(me.absenceMessage ?? "");
  const submit = (event: Event, work: () => Promise<CounsellorStateFragment>) => {
    event.preventDefault();
    void run(work());
  };
  return (
    <section aria-labelledby="my-availability">
      <h2 id="my-availability">{t.status}</h2>
      <fieldset class="toggle">
        <legend>{t.status}</legend>
        {STATUSES.map((status) => (
          <label key={status} class={`status-${status}`}>
            <input
              type="radio"
              name="online-status"
              value={status}
              checked={me.onlineStatus === status}
              onChange={() => void run(call(SetOnlineStatus, { status }).then((r) => r.setOnlineStatus))}
            />
            {t[`status${status}`]}
          </label>
        ))}
      </fieldset>
      <form onSubmit={(e) => submit(e, () => call(SetChatCapacity, { capacity: Number(capacity) }).then((r) => r.setChatCapacity))}>
        <label for="chat-capacity">{t.chatCapacity}</label>
        <input id="chat-capacity" type="number" min={0} max={20} value={capacity} onInput={(e) => setCapacity(e.currentTarget.value)} />
        <button type="submit">{t.save}</button>
      </form>
      <form
        onSubmit={(e) =>
          submit(e, () =>
            call(SetMailAvailability, { input: { mode, resources: mode === "BY_FREE_RESOURCES" ? Number(resources) : null } }).then((r) => r.setMailAvailability),
          )
        }
      >
        <label for="mail-mode">{t.mailAvailability}</label>
        <select id="mail-mode" value={mode} onChange={(e) => setMode(e.currentTarget.value as MailAvailability)}>
          {MAIL_MODES.map((m) => (
            <option key={m} value={m}>
              {t[`mail${m}`]}
            </option>
          ))}
        </select>
        {mode === "BY_FREE_RESOURCES" && (
          <>
            <label for="mail-resources">{t.mailResources}</label>
            <input id="mail-resources" type="number" min={0} value={resources} onInput={(e) => setResources(e.currentTarget.value)} />
          </>
        )}
        <button type="submit">{t.save}</button>
      </form>
      <form onSubmit={(e) => submit(e, () => call(SetAbsence, { input: { absent, message: absent ? message : null } }).then((r) => r.setAbsence))}>
        <fieldset>
          <legend>{t.absence}</legend>
          <label class="inline">
            <input type="checkbox" checked={absent} onChange={(e) => setAbsent(e.currentTarget.checked)} /> {t.absent}
          </label>
          <label for="absence-message">{t.absenceMessage}</label>
          <textarea id="absence-message" rows={2} value={message} disabled={!absent} onInput={(e) => setMessage(e.currentTarget.value)} />
          <button type="submit">{t.save}</button>
        </fieldset>
      </form>
      <p>
        <label class="inline">
          <input type="checkbox" checked={me.onlyOwnClients ?? false} disabled aria-describedby="own-note" /> {t.onlyOwnClients}
        </label>{" "}
        {session.role !== "ADMIN" && (
          <small id="own-note">{t.onlyOwnClientsNote}</small>
        )}
      </p>
      <Notice error={error} ok={ok} />
    </section>
  );
}

function Load({ me }: { me: CounsellorStateFragment }) {
  const capacity = me.chatCapacity ?? 0;
  const active = me.activeChatCount ?? 0;
  return (
    <section aria-labelledby="my-load" class="load">
      <h2 id="my-load">{t.load}</h2>
      <p data-testid="chat-load">{fill(t.chats, { active, capacity, free: Math.max(0, capacity - active) })}</p>
      <meter min={0} max={Math.max(capacity, 1)} value={active} aria-label={t.chatCapacity} />
      <p>{fill(t.mails, { open: me.openMailCount ?? 0 })}</p>
      <p>{me.freeMailResources == null ? t.mailsUnlimited : fill(t.mailsFree, { free: me.freeMailResources })}</p>
    </section>
  );
}

function Requests() {
  const { call, ws } = useStamm();
  const [requests, setRequests] = useState<RequestFieldsFragment[]>([]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [announcement, setAnnouncement] = useState("");
  const [error, setError] = useState<unknown>(null);
  const upsert = (request: RequestFieldsFragment) =>
    setRequests((list) => {
      const rest = list.filter((r) => r.id !== request.id);
      return request.status === "ASSIGNED" ? [request, ...rest] : rest;
    });
  useEffect(() => {
    call(MyRequests, {}).then(({ requests: page }) => setRequests(page.edges.map((e) => e.node)), setError);
    const stopAssigned = follow(ws, RequestAssigned, {}, ({ requestAssigned }) => {
      upsert(requestAssigned);
      setFresh((ids) => new Set(ids).add(requestAssigned.id));
      setAnnouncement(fill(t.newRequestAnnounced, { client: requestAssigned.client?.displayName ?? "" }));
    });
    // Another tab accepting or closing, or a reassignment: keep the list true.
    const stopUpdates = follow(ws, MyRequestUpdates, {}, ({ requestUpdated }) => {
      if (requestUpdated.status !== "ASSIGNED") upsert(requestUpdated);
      else setRequests((list) => list.map((r) => (r.id === requestUpdated.id ? requestUpdated : r)));
    });
    return () => (stopAssigned(), stopUpdates());
  }, []);
  const act = (id: string, accept: boolean) => {
    setFresh((ids) => ((ids = new Set(ids)), ids.delete(id), ids));
    const work = accept ? call(AcceptRequest, { id }).then((r) => r.acceptRequest) : call(CloseRequest, { id }).then((r) => r.closeRequest);
    work.then(upsert, setError);
  };
  return (
    <section aria-labelledby="my-requests">
      <h2 id="my-requests">{t.myRequests}</h2>
      <p class="sr-only" aria-live="polite">
        {announcement}
      </p>
      <Notice error={error} />
      {requests.length === 0 ? (
        <p>{t.noRequests}</p>
      ) : (
        <ul class="requests" data-testid="my-requests">
          {requests.map((r) => (
            <li key={r.id} class={fresh.has(r.id) ? "request fresh" : "request"}>
              <div class="request-head">
                {fresh.has(r.id) && <span class="badge">{t.newRequest}</span>}
                <span class={`channel channel-${r.channel}`}>{t[`channel${r.channel}`]}</span>
                <strong>{r.client?.displayName ?? "—"}</strong>
                <span>{when(r.assignedAt ?? r.createdAt)}</span>
                {r.acceptedAt && <span class="accepted">{t.accepted}</span>}
              </div>
              {r.subject && <p class="subject">{r.subject}</p>}
              <p class="message">{r.message}</p>
              <div class="actions">
                {!r.acceptedAt && (
                  <button type="button" onClick={() => act(r.id, true)}>
                    {t.accept}
                  </button>
                )}
                <button type="button" class="secondary" onClick={() => act(r.id, false)}>
                  {t.close}
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
