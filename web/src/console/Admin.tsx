import { useEffect, useState } from "preact/hooks";
import type { CounsellorStateFragment } from "../gql/graphql";
import { follow } from "../shared/api";
import { fill } from "../shared/i18n";
import { CounsellorChanged, Counsellors, CreateCounsellor, ReassignClients, SettingsQuery, UpdateCounsellor, UpdateSettings } from "./ops";
import { useStamm } from "./session";
import { t } from "./texts";
import { Notice, useLoad } from "./util";

export function Admin() {
  const { call, ws } = useStamm();
  const [counsellors, setCounsellors] = useState<CounsellorStateFragment[]>([]);
  const [error, setError] = useState<unknown>(null);
  const upsert = (c: CounsellorStateFragment) =>
    setCounsellors((list) =>
      list.some((x) => x.id === c.id) ? list.map((x) => (x.id === c.id ? c : x)) : [...list, c].sort((a, b) => a.displayName.localeCompare(b.displayName)),
    );
  useEffect(() => {
    call(Counsellors, {}).then(({ counsellors: all }) => setCounsellors(all), setError);
    // Every counsellor's state, current first, then each change: status and load stay live.
    return follow(ws, CounsellorChanged, { id: null }, ({ counsellorAvailabilityChanged }) => upsert(counsellorAvailabilityChanged), setError);
  }, []);
  return (
    <div class="admin">
      <h1>{t.navAdmin}</h1>
      <Notice error={error} />
      <CounsellorTable counsellors={counsellors} changed={upsert} />
      <div class="columns">
        <NewCounsellor created={upsert} />
        <Reassign counsellors={counsellors} />
      </div>
      <Routing counsellors={counsellors} />
    </div>
  );
}

function CounsellorTable({ counsellors, changed }: { counsellors: CounsellorStateFragment[]; changed: (c: CounsellorStateFragment) => void }) {
  const { call, session } = useStamm();
  const [error, setError] = useState<unknown>(null);
  const update = (id: string, input: { active?: boolean; onlyOwnClients?: boolean }) =>
    call(UpdateCounsellor, { input: { id, ...input } }).then((r) => (changed(r.updateCounsellor), setError(null)), setError);
  return (
    <section aria-labelledby="counsellors-title">
      <h2 id="counsellors-title">{t.counsellors}</h2>
      <Notice error={error} />
      <table class="list" data-testid="counsellors">
        <thead>
          <tr>
            <th scope="col">{t.name}</th>
            <th scope="col">{t.role}</th>
            <th scope="col">{t.status}</th>
            <th scope="col">{t.load}</th>
            <th scope="col">{t.onlyOwnClients}</th>
            <th scope="col">{t.active}</th>
          </tr>
        </thead>
        <tbody>
          {counsellors.map((c) => (
            <tr key={c.id} data-counsellor={c.displayName}>
              <th scope="row">
                {c.displayName}
                <br />
                <small>{c.email}</small>
              </th>
              <td>{c.role ? t[`role${c.role}`] : "—"}</td>
              <td>
                <span class={`dot status-${c.onlineStatus}`} aria-hidden="true" /> <span data-testid="status">{t[`status${c.onlineStatus}`]}</span>
                {c.absent && <small> · {t.absent}</small>}
              </td>
              <td>
                {fill(t.chats, { active: c.activeChatCount ?? 0, capacity: c.chatCapacity ?? 0, free: Math.max(0, (c.chatCapacity ?? 0) - (c.activeChatCount ?? 0)) })}
                <br />
                {fill(t.mails, { open: c.openMailCount ?? 0 })}
              </td>
              <td>
                <input
                  type="checkbox"
                  aria-label={`${t.onlyOwnClients}: ${c.displayName}`}
                  checked={c.onlyOwnClients ?? false}
                  onChange={(e) => update(c.id, { onlyOwnClients: e.currentTarget.checked })}
                />
              </td>
              <td>
                {c.id !== session.counsellorId && (
                  <button type="button" class="secondary" onClick={() => update(c.id, { active: !c.active })}>
                    {c.active ? t.deactivate : t.activate}
                    <span class="sr-only"> {c.displayName}</span>
                  </button>
                )}
                {c.active === false && <span class="badge muted">{t.inactive}</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function NewCounsellor({ created }: { created: (c: CounsellorStateFragment) => void }) {
  const { call } = useStamm();
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const input = {
      displayName: String(data.get("displayName")),
      email: String(data.get("email")),
      password: String(data.get("password")),
      role: data.get("role") === "ADMIN" ? ("ADMIN" as const) : ("COUNSELLOR" as const),
    };
    call(CreateCounsellor, { input }).then(
      (r) => (created(r.createCounsellor), form.reset(), setError(null), setOk(t.saved)),
      (failure: unknown) => (setError(failure), setOk(null)),
    );
  };
  return (
    <section aria-labelledby="new-counsellor">
      <h2 id="new-counsellor">{t.createCounsellor}</h2>
      <form onSubmit={submit}>
        <label for="nc-name">{t.displayName}</label>
        <input id="nc-name" name="displayName" required />
        <label for="nc-email">{t.email}</label>
        <input id="nc-email" name="email" type="email" required autocomplete="off" />
        <label for="nc-password">{t.password}</label>
        <input id="nc-password" name="password" type="password" required minLength={8} autocomplete="new-password" />
        <label for="nc-role">{t.role}</label>
        <select id="nc-role" name="role">
          <option value="COUNSELLOR">{t.roleCOUNSELLOR}</option>
          <option value="ADMIN">{t.roleADMIN}</option>
        </select>
        <button type="submit">{t.create}</button>
        <Notice error={error} ok={ok} />
      </form>
    </section>
  );
}

function CounsellorSelect({ id, name, counsellors, empty }: { id: string; name: string; counsellors: CounsellorStateFragment[]; empty?: string }) {
  return (
    <select id={id} name={name} required={!empty}>
      {empty !== undefined && <option value="">{empty}</option>}
      {counsellors.map((c) => (
        <option key={c.id} value={c.id}>
          {c.displayName}
          {c.active === false ? ` (${t.inactive})` : ""}
        </option>
      ))}
    </select>
  );
}

function Reassign({ counsellors }: { counsellors: CounsellorStateFragment[] }) {
  const { call } = useStamm();
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const input = { fromCounsellorId: String(data.get("from")), toCounsellorId: String(data.get("to")), reason: String(data.get("reason") ?? "").trim() || null };
    call(ReassignClients, { input }).then(
      (r) => (setError(null), setOk(fill(t.reassigned, { count: r.reassignClients }))),
      (failure: unknown) => (setError(failure), setOk(null)),
    );
  };
  return (
    <section aria-labelledby="reassign-title">
      <h2 id="reassign-title">{t.reassign}</h2>
      <form onSubmit={submit}>
        <label for="reassign-from">{t.from}</label>
        <CounsellorSelect id="reassign-from" name="from" counsellors={counsellors} />
        <label for="reassign-to">{t.to}</label>
        <CounsellorSelect id="reassign-to" name="to" counsellors={counsellors.filter((c) => c.active)} />
        <label for="reassign-reason">{t.reason}</label>
        <input id="reassign-reason" name="reason" />
        <button type="submit">{t.reassign}</button>
        <Notice error={error} ok={ok} />
      </form>
    </section>
  );
}

function Routing({ counsellors }: { counsellors: CounsellorStateFragment[] }) {
  const { call } = useStamm();
  const { data, error: loadError } = useLoad(() => call(SettingsQuery, {}), []);
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState<string | null>(null);
  if (!data) return <Notice error={loadError} />;
  const settings = data.settings;
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const accept = String(form.get("accept")).trim();
    const input = {
      fallbackCounsellorId: String(form.get("fallback")) || null,
      primaryChatWaitSeconds: Number(form.get("wait")),
      presenceTimeoutSeconds: Number(form.get("presence")),
      acceptTimeoutSeconds: accept ? Number(accept) : null,
    };
    call(UpdateSettings, { input }).then(
      () => (setError(null), setOk(t.saved)),
      (failure: unknown) => (setError(failure), setOk(null)),
    );
  };
  return (
    <section aria-labelledby="routing-title">
      <h2 id="routing-title">{t.routing}</h2>
      <form onSubmit={submit} key={`${JSON.stringify(settings)}-${counsellors.length}`}>
        <label for="routing-fallback">{t.fallback}</label>
        <select id="routing-fallback" name="fallback" defaultValue={settings.fallbackCounsellor?.id ?? ""}>
          <option value="">{t.none}</option>
          {counsellors
            .filter((c) => c.active)
            .map((c) => (
              <option key={c.id} value={c.id}>
                {c.displayName}
              </option>
            ))}
        </select>
        <label for="routing-wait">{t.primaryWait}</label>
        <input id="routing-wait" name="wait" type="number" min={0} defaultValue={String(settings.primaryChatWaitSeconds)} />
        <label for="routing-presence">{t.presenceTimeout}</label>
        <input id="routing-presence" name="presence" type="number" min={1} defaultValue={String(settings.presenceTimeoutSeconds)} />
        <label for="routing-accept">{t.acceptTimeout}</label>
        <input id="routing-accept" name="accept" type="number" min={1} defaultValue={settings.acceptTimeoutSeconds == null ? "" : String(settings.acceptTimeoutSeconds)} />
        <button type="submit">{t.save}</button>
        <Notice error={error} ok={ok} />
      </form>
    </section>
  );
}
