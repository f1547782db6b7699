// Mitgliederverwaltung: every client with account and invitation state; block, delete, restore.
import { useState } from "preact/hooks";
import type { AccountStatus, ClientOrder, InvitationStatus, MemberFieldsFragment } from "../gql/graphql";
import { fill } from "../shared/i18n";
import { BlockClient, DeleteClient, InviteClient, Members as MembersQuery, RestoreClient, UnblockClient } from "./ops";
import { useStamm } from "./session";
import { t } from "./texts";
import { Confirm, Notice, useLoad, when } from "./util";

const PAGE = 25;
const ACCOUNT: AccountStatus[] = ["ACTIVE", "BLOCKED", "DELETED"];
const INVITATION: InvitationStatus[] = ["NO_ACCESS", "INVITED", "REGISTERED"];
const ORDERS: ClientOrder[] = ["DISPLAY_NAME", "LAST_LOGIN", "ACCOUNT_STATUS", "INVITATION_STATUS", "PRIMARY_COUNSELLOR"];

export function Members() {
  const { call } = useStamm();
  const [search, setSearch] = useState("");
  const [account, setAccount] = useState<AccountStatus | "">("");
  const [invitation, setInvitation] = useState<InvitationStatus | "">("");
  const [orderBy, setOrderBy] = useState<ClientOrder>("DISPLAY_NAME");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState<string | null>(null);
  const after = cursors[cursors.length - 1];
  const filter = { search: search.trim() || null, accountStatus: account || null, invitationStatus: invitation || null };
  const { data, error: loadError, reload } = useLoad(() => call(MembersQuery, { filter, first: PAGE, after, orderBy }), [search, account, invitation, orderBy, after]);
  const restart = <T,>(set: (value: T) => void) => (value: T) => (set(value), setCursors([null]));
  const act = (done: string, run: () => Promise<unknown>) =>
    run().then(
      () => (setError(null), setOk(done), reload()),
      (failure: unknown) => (setError(failure), setOk(null)),
    );
  return (
    <div>
      <h1>{t.navMembers}</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="member-search">{t.search}</label>
          <input id="member-search" type="search" placeholder={t.searchHint} value={search} onInput={(e) => restart(setSearch)(e.currentTarget.value)} />
        </div>
        <div>
          <label for="member-account">{t.accountStatus}</label>
          <select id="member-account" value={account} onChange={(e) => restart(setAccount)(e.currentTarget.value as AccountStatus | "")}>
            <option value="">{t.any}</option>
            {ACCOUNT.map((status) => (
              <option key={status} value={status}>
                {t[`account${status}`]}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="member-invitation">{t.invitation}</label>
          <select id="member-invitation" value={invitation} onChange={(e) => restart(setInvitation)(e.currentTarget.value as InvitationStatus | "")}>
            <option value="">{t.any}</option>
            {INVITATION.map((status) => (
              <option key={status} value={status}>
                {t[`invite${status}`]}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="member-order">{t.sortBy}</label>
          <select id="member-order" value={orderBy} onChange={(e) => restart(setOrderBy)(e.currentTarget.value as ClientOrder)}>
            {ORDERS.map((order) => (
              <option key={order} value={order}>
                {t[`order${order}`]}
              </option>
            ))}
          </select>
        </div>
      </form>
      <Notice error={error || loadError} ok={ok} />
      {data && (
        <>
          <p>{fill(t.results, { count: data.clients.totalCount })}</p>
          <table class="list" data-testid="members">
            <thead>
              <tr>
                <th scope="col">{t.name}</th>
                <th scope="col">{t.accountStatus}</th>
                <th scope="col">{t.invitation}</th>
                <th scope="col">{t.lastLogin}</th>
                <th scope="col">{t.requests}</th>
                <th scope="col">{t.primary}</th>
                <th scope="col">{t.actions}</th>
              </tr>
            </thead>
            <tbody>
              {data.clients.edges.map(({ node }) => (
                <MemberRow key={node.id} member={node} act={act} />
              ))}
            </tbody>
          </table>
          <nav class="pager" aria-label={t.navMembers}>
            <button type="button" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))}>
              {t.previous}
            </button>
            <button type="button" disabled={!data.clients.pageInfo.hasNextPage} onClick={() => setCursors((c) => [...c, data.clients.pageInfo.endCursor ?? null])}>
              {t.next}
            </button>
          </nav>
        </>
      )}
    </div>
  );
}

function MemberRow({ member: m, act }: { member: MemberFieldsFragment; act: (done: string, run: () => Promise<unknown>) => void }) {
  const { call } = useStamm();
  const name = m.displayName;
  return (
    <tr data-member={name}>
      <th scope="row">
        <a href={`#/clients/${encodeURIComponent(m.id)}`}>{name}</a> <code>{m.clientCode}</code>
        <br />
        <small>{m.email ?? "—"}</small>
      </th>
      <td>
        <span data-testid="account">{t[`account${m.accountStatus}`]}</span>
        {m.erasureDueAt && (
          <>
            <br />
            <small>{fill(t.erasureDue, { when: when(m.erasureDueAt) })}</small>
          </>
        )}
      </td>
      <td>{t[`invite${m.invitationStatus}`]}</td>
      <td>{when(m.lastLoginAt)}</td>
      <td>
        {fill(t.openRequests, { count: m.openRequestCount })}
        <br />
        <small>{fill(t.lastRequest, { when: when(m.lastRequestAt) })}</small>
      </td>
      <td>{m.primaryCounsellor?.displayName ?? t.none}</td>
      <td class="row-actions">
        {m.accountStatus === "ACTIVE" && (
          <Confirm label={t.block} subject={name} question={fill(t.blockQuestion, { name })} run={() => act(t.blocked, () => call(BlockClient, { id: m.id }))} />
        )}
        {m.accountStatus === "BLOCKED" && (
          <Confirm label={t.unblock} subject={name} question={fill(t.unblockQuestion, { name })} run={() => act(t.unblocked, () => call(UnblockClient, { id: m.id }))} />
        )}
        {m.accountStatus !== "DELETED" && (
          <Confirm label={t.delete} subject={name} question={fill(t.deleteClientQuestion, { name })} run={() => act(t.deleted, () => call(DeleteClient, { id: m.id }))} />
        )}
        {m.accountStatus === "DELETED" && (
          <Confirm label={t.restore} subject={name} question={fill(t.restoreQuestion, { name })} run={() => act(t.restored, () => call(RestoreClient, { id: m.id }))} />
        )}
        {m.accountStatus === "ACTIVE" && m.email && m.invitationStatus !== "REGISTERED" && (
          <button type="button" class="secondary" onClick={() => act(t.invitationSent, () => call(InviteClient, { id: m.id }))}>
            {m.invitationStatus === "INVITED" ? t.resendInvitation : t.invite}
            <span class="sr-only"> {name}</span>
          </button>
        )}
      </td>
    </tr>
  );
}
