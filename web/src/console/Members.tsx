// Mitgliederverwaltung: every client with account and invitation state; block, delete, restore.
import { useState } from "preact/hooks";
import type { AccountStatus, ClientOrder, InvitationStatus, MemberFieldsFragment } from "../gql/graphql";
import { fill } from "../shared/i18n";
import { BlockClient, DeleteClient, InviteClient, Members as MembersQuery, RestoreClient, UnblockClient } from "./ops";
import { useStamm } from "./session";
import { t } from "./texts";
import { ChoiceSelect, ListTable, Pager, SearchField, usePaging } from "./listing";
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
  const paging = usePaging();
  const { after, restart } = paging;
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState<string | null>(null);
  const filter = { search: search.trim() || null, accountStatus: account || null, invitationStatus: invitation || null };
  const { data, error: loadError, reload } = useLoad(() => call(MembersQuery, { filter, first: PAGE, after, orderBy }), [search, account, invitation, orderBy, after]);
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
          <SearchField id="member-search" value={search} onInput={restart(setSearch)} />
        </div>
        <div>
          <ChoiceSelect id="member-account" label={t.accountStatus} value={account} choices={ACCOUNT} labelOf={(s) => t[`account${s}`]} any onChange={restart(setAccount)} />
        </div>
        <div>
          <ChoiceSelect id="member-invitation" label={t.invitation} value={invitation} choices={INVITATION} labelOf={(s) => t[`invite${s}`]} any onChange={restart(setInvitation)} />
        </div>
        <div>
          <ChoiceSelect id="member-order" label={t.sortBy} value={orderBy} choices={ORDERS} labelOf={(o) => t[`order${o}`]} onChange={restart(setOrderBy)} />
        </div>
      </form>
      <Notice error={error || loadError} ok={ok} />
      {data && (
        <>
          <p>{fill(t.results, { count: data.clients.totalCount })}</p>
          <ListTable headers={[t.name, t.accountStatus, t.invitation, t.lastLogin, t.requests, t.primary, t.actions]} testId="members">
            {data.clients.edges.map(({ node }) => (
              <MemberRow key={node.id} member={node} act={act} />
            ))}
          </ListTable>
          <Pager label={t.navMembers} paging={paging} pageInfo={data.clients.pageInfo} />
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
