import { useState } from "preact/hooks";
import type { AccountStatus, ClientFilter } from "../gql/graphql";
import { fill } from "../shared/i18n";
import { Clients } from "./ops";
import { useStamm } from "./session";
import { t } from "./texts";
import { ChoiceSelect, ListTable, Pager, SearchField, usePaging } from "./listing";
import { Notice, useLoad } from "./util";

const PAGE = 20;
type Scope = "all" | "mine" | "unassigned" | "inactive";
const SCOPE_LABELS: Record<Scope, string> = {
  all: t.filterAll,
  mine: t.filterMine,
  unassigned: t.filterUnassigned,
  inactive: t.filterInactive,
};
const SCOPES = Object.keys(SCOPE_LABELS) as Scope[];
const ACCOUNT: AccountStatus[] = ["ACTIVE", "BLOCKED", "DELETED"];

function filterOf(search: string, scope: Scope, account: AccountStatus | ""): ClientFilter {
  return {
    search: search.trim() || null,
    primaryIsMe: scope === "mine" || null,
    unassigned: scope === "unassigned" || null,
    primaryInactive: scope === "inactive" || null,
    accountStatus: account || null,
  };
}

export function ClientOverview() {
  const { call } = useStamm();
  const [search, setSearch] = useState("");
  const [scope, setScope] = useState<Scope>("all");
  const [account, setAccount] = useState<AccountStatus | "">("");
  const paging = usePaging();
  const { after, restart } = paging;
  const { data, error } = useLoad(() => call(Clients, { filter: filterOf(search, scope, account), first: PAGE, after }), [search, scope, account, after]);
  return (
    <div>
      <h1>{t.clients}</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <SearchField id="client-search" value={search} onInput={restart(setSearch)} />
        <ChoiceSelect id="client-scope" label={t.filter} value={scope} choices={SCOPES} labelOf={(s) => SCOPE_LABELS[s]} onChange={restart(setScope)} />
        <ChoiceSelect id="client-account" label={t.accountStatus} value={account} choices={ACCOUNT} labelOf={(s) => t[`account${s}`]} any onChange={restart(setAccount)} />
      </form>
      <Notice error={error} />
      {data && (
        <>
          <p role="status">{fill(t.results, { count: data.clients.totalCount })}</p>
          <ListTable headers={[t.code, t.name, t.email, t.accountStatus, t.primary]}>
            {data.clients.edges.map(({ node }) => (
              <tr key={node.id}>
                <td>
                  <code>{node.clientCode}</code>
                </td>
                <td>
                  <a href={`#/clients/${encodeURIComponent(node.id)}`}>{node.displayName}</a>
                </td>
                <td>{node.email ?? "—"}</td>
                <td>{t[`account${node.accountStatus}`]}</td>
                <td>
                  {node.primaryCounsellor ? node.primaryCounsellor.displayName : t.none}
                  {node.primaryCounsellor?.active === false && <span class="badge muted"> {t.inactive}</span>}
                </td>
              </tr>
            ))}
          </ListTable>
          <Pager label={t.clients} paging={paging} pageInfo={data.clients.pageInfo} />
        </>
      )}
    </div>
  );
}
