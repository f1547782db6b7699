import { useState } from "preact/hooks";
import type { AccountStatus, ClientFilter } from "../gql/graphql";
import { fill } from "../shared/i18n";
import { Clients } from "./ops";
import { useStamm } from "./session";
import { t } from "./texts";
import { Notice, useLoad } from "./util";

const PAGE = 20;
type Scope = "all" | "mine" | "unassigned" | "inactive";
const SCOPES: [Scope, string][] = [
  ["all", t.filterAll],
  ["mine", t.filterMine],
  ["unassigned", t.filterUnassigned],
  ["inactive", t.filterInactive],
];
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
  // The cursors of the pages before this one: "previous" pops, "next" pushes.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1];
  const { data, error } = useLoad(() => call(Clients, { filter: filterOf(search, scope, account), first: PAGE, after }), [search, scope, account, after]);
  const restart = <T,>(set: (value: T) => void) => (value: T) => (set(value), setCursors([null]));
  return (
    <div>
      <h1>{t.clients}</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label for="client-search">{t.search}</label>
        <input id="client-search" type="search" placeholder={t.searchHint} value={search} onInput={(e) => restart(setSearch)(e.currentTarget.value)} />
        <label for="client-scope">{t.filter}</label>
        <select id="client-scope" value={scope} onChange={(e) => restart(setScope)(e.currentTarget.value as Scope)}>
          {SCOPES.map(([key, label]) => (
            <option key={key} value={key}>
              {label}
            </option>
          ))}
        </select>
        <label for="client-account">{t.accountStatus}</label>
        <select id="client-account" value={account} onChange={(e) => restart(setAccount)(e.currentTarget.value as AccountStatus | "")}>
          <option value="">{t.any}</option>
          {ACCOUNT.map((status) => (
            <option key={status} value={status}>
              {t[`account${status}`]}
            </option>
          ))}
        </select>
      </form>
      <Notice error={error} />
      {data && (
        <>
          <p role="status">{fill(t.results, { count: data.clients.totalCount })}</p>
          <table class="list">
            <thead>
              <tr>
                <th scope="col">{t.code}</th>
                <th scope="col">{t.name}</th>
                <th scope="col">{t.email}</th>
                <th scope="col">{t.accountStatus}</th>
                <th scope="col">{t.primary}</th>
              </tr>
            </thead>
            <tbody>
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
            </tbody>
          </table>
          <nav class="pager" aria-label={t.clients}>
            <button type="button" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))}>
              {t.previous}
            </button>
            <button
              type="button"
              disabled={!data.clients.pageInfo.hasNextPage}
              onClick={() => setCursors((c) => [...c, data.clients.pageInfo.endCursor ?? null])}
            >
              {t.next}
            </button>
          </nav>
        </>
      )}
    </div>
  );
}
