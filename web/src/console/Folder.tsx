import { useEffect, useRef, useState } from "preact/hooks";
import { Fragment, type ComponentType } from "preact";
import type { ChangeFieldsFragment, ClientFolderQuery } from "../gql/graphql";
import { follow } from "../shared/api";
import { fill } from "../shared/i18n";
import { ChangePrimary, ClientFolder as FolderQuery, Counsellors, PrimaryChanged } from "./ops";
import { useStamm } from "./session";
import { t, type TextKey } from "./texts";
import { Notice, useLoad, when } from "./util";

type FolderClient = NonNullable<ClientFolderQuery["client"]>;

/**
 * The tabs of the Klientenmappe. A tab for a new part of the folder API (notes, documents,
 * monitoring) is one entry here and one component taking the client's id.
 */
interface FolderTab {
  key: string;
  label: TextKey;
  Panel: ComponentType<{ client: FolderClient; reload: () => void }>;
}

const TABS: FolderTab[] = [{ key: "profile", label: "tabProfile", Panel: Profile }];

export function ClientFolder({ id }: { id: string }) {
  const { call, ws } = useStamm();
  const { data, error, reload } = useLoad(() => call(FolderQuery, { id }), [id]);
  const [tab, setTab] = useState(TABS[0].key);
  // A change made in any console (or by routing) arrives here: load the folder again.
  useEffect(() => follow(ws, PrimaryChanged, { clientId: id }, reload), [id]);
  const client = data?.client;
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);
  // Arrow keys move between tabs, as the ARIA tabs pattern has it.
  const onKey = (event: KeyboardEvent, index: number) => {
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    const next = (index + step + TABS.length) % TABS.length;
    setTab(TABS[next].key);
    tabs.current[next]?.focus();
  };
  return (
    <div>
      <p>
        <a href="#/clients">{t.back}</a>
      </p>
      <Notice error={error} />
      {data && !client && <p>{t.notFound}</p>}
      {client && (
        <>
          <h1>
            {t.folder}: {client.displayName} <code>{client.clientCode}</code>
          </h1>
          <div role="tablist" aria-label={t.folder}>
            {TABS.map((each, index) => (
              <button
                key={each.key}
                ref={(el) => void (tabs.current[index] = el)}
                type="button"
                role="tab"
                id={`tab-${each.key}`}
                aria-controls={`panel-${each.key}`}
                aria-selected={tab === each.key}
                tabIndex={tab === each.key ? 0 : -1}
                onClick={() => setTab(each.key)}
                onKeyDown={(e) => onKey(e, index)}
              >
                {t[each.label]}
              </button>
            ))}
          </div>
          {TABS.filter((each) => each.key === tab).map(({ key, Panel }) => (
            <div key={key} role="tabpanel" id={`panel-${key}`} aria-labelledby={`tab-${key}`} tabIndex={0}>
              <Panel client={client} reload={reload} />
            </div>
          ))}
        </>
      )}
    </div>
  );
}

function Profile({ client, reload }: { client: FolderClient; reload: () => void }) {
  const [choosing, setChoosing] = useState(false);
  const fields: [TextKey, string | null | undefined][] = [
    ["email", client.email],
    ["firstName", client.firstName],
    ["lastName", client.lastName],
    ["phone", client.phone],
    ["language", client.language],
    ["accountStatus", t[`account${client.accountStatus}`]],
    ["invitation", t[`invite${client.invitationStatus}`]],
    ["lastLogin", when(client.lastLoginAt)],
    ["createdAt", when(client.createdAt)],
  ];
  return (
    <div class="profile">
      <dl>
        <dt>{t.primary}</dt>
        <dd>
          <span data-testid="primary-name">{client.primaryCounsellor?.displayName ?? t.none}</span>{" "}
          <button type="button" class="pen" aria-expanded={choosing} aria-label={t.changePrimary} title={t.changePrimary} onClick={() => setChoosing(!choosing)}>
            ✎
          </button>
        </dd>
        {fields.map(([label, value]) => (
          <Fragment key={label}>
            <dt>{t[label]}</dt>
            <dd>{value ?? "—"}</dd>
          </Fragment>
        ))}
      </dl>
      {choosing && (
        <PrimaryPicker
          client={client}
          done={(changed) => {
            setChoosing(false);
            if (changed) reload();
          }}
        />
      )}
      <History changes={client.primaryCounsellorHistory} />
    </div>
  );
}

function PrimaryPicker({ client, done }: { client: FolderClient; done: (changed: boolean) => void }) {
  const { call } = useStamm();
  const { data } = useLoad(() => call(Counsellors, { filter: { active: true } }), []);
  const [choice, setChoice] = useState(client.primaryCounsellor?.id ?? "");
  const [reason, setReason] = useState("");
  const [error, setError] = useState<unknown>(null);
  const first = useRef<HTMLSelectElement>(null);
  useEffect(() => first.current?.focus(), [data]);
  const submit = (event: Event) => {
    event.preventDefault();
    call(ChangePrimary, { input: { clientId: client.id, counsellorId: choice || null, reason: reason.trim() || null } }).then(() => done(true), setError);
  };
  return (
    <form class="picker" aria-label={t.changePrimary} onSubmit={submit} onKeyDown={(e) => e.key === "Escape" && done(false)}>
      <label for="primary-choice">{t.choosePrimary}</label>
      <select id="primary-choice" ref={first} value={choice} onChange={(e) => setChoice(e.currentTarget.value)}>
        <option value="">{t.none}</option>
        {data?.counsellors.map((c) => (
          <option key={c.id} value={c.id}>
            {c.displayName}
          </option>
        ))}
      </select>
      <label for="primary-reason">{t.reason}</label>
      <textarea id="primary-reason" rows={2} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <div class="actions">
        <button type="submit">{t.save}</button>
        <button type="button" class="secondary" onClick={() => done(false)}>
          {t.cancel}
        </button>
      </div>
      <Notice error={error} />
    </form>
  );
}

function History({ changes }: { changes: ChangeFieldsFragment[] }) {
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">{t.history}</h2>
      {changes.length === 0 ? (
        <p>{t.noHistory}</p>
      ) : (
        <ol class="history" data-testid="primary-history" aria-live="polite">
          {changes.map((change) => (
            <li key={change.id}>
              <time dateTime={change.changedAt}>{when(change.changedAt)}</time>{" "}
              {fill(t.changeLine, { from: change.previousCounsellor?.displayName ?? t.none, to: change.newCounsellor?.displayName ?? t.none })}{" "}
              <small>{change.changedBy ? fill(t.changedBy, { who: change.changedBy.displayName }) : t.automatic}</small>
              {change.reason && <q>{change.reason}</q>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
