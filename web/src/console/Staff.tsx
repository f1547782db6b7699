// Beratendenverwaltung: counsellors and admins with search, invitations and role changes.
import { useState } from "preact/hooks";
import type { StaffFieldsFragment, StaffRole } from "../gql/graphql";
import { fill } from "../shared/i18n";
import { ChangeRole, CreateCounsellor, InviteCounsellor, Staff as StaffQuery } from "./ops";
import { useStamm } from "./session";
import { t } from "./texts";
import { Notice, usePages, when } from "./util";

const PAGE = 25;

export function Staff() {
  const { call } = useStamm();
  const [search, setSearch] = useState("");
  const [role, setRole] = useState<StaffRole | "">("");
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState<string | null>(null);
  const staff = usePages(
    (after) => call(StaffQuery, { filter: { search: search.trim() || null, role: role || null }, first: PAGE, after }).then((r) => r.staff),
    [search, role],
  );
  const act = (done: string, run: () => Promise<unknown>) =>
    run().then(
      () => (setError(null), setOk(done), staff.reload()),
      (failure: unknown) => (setError(failure), setOk(null)),
    );
  return (
    <div>
      <h1>{t.navStaff}</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="staff-search">{t.search}</label>
          <input id="staff-search" type="search" placeholder={t.staffSearchHint} value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </div>
        <div>
          <label for="staff-role">{t.role}</label>
          <select id="staff-role" value={role} onChange={(e) => setRole(e.currentTarget.value as StaffRole | "")}>
            <option value="">{t.any}</option>
            <option value="COUNSELLOR">{t.roleCOUNSELLOR}</option>
            <option value="ADMIN">{t.roleADMIN}</option>
          </select>
        </div>
      </form>
      <Notice error={error || staff.error} ok={ok} />
      <table class="list" data-testid="staff">
        <thead>
          <tr>
            <th scope="col">{t.name}</th>
            <th scope="col">{t.role}</th>
            <th scope="col">{t.invitation}</th>
            <th scope="col">{t.lastLogin}</th>
            <th scope="col">{t.primaryClients}</th>
            <th scope="col">{t.actions}</th>
          </tr>
        </thead>
        <tbody>
          {staff.items.map((member) => (
            <StaffRow key={member.id} member={member} act={act} />
          ))}
        </tbody>
      </table>
      {staff.more && (
        <button type="button" class="secondary" onClick={staff.more}>
          {t.showMore}
        </button>
      )}
      <InviteCounsellorForm invited={(name) => act(fill(t.invitedStaff, { name }), () => Promise.resolve())} />
    </div>
  );
}

function StaffRow({ member: m, act }: { member: StaffFieldsFragment; act: (done: string, run: () => Promise<unknown>) => void }) {
  const { call, session } = useStamm();
  const self = m.id === session.counsellorId;
  return (
    <tr data-staff={m.displayName}>
      <th scope="row">
        {m.displayName}
        <br />
        <small>{m.email}</small>
        {m.active === false && <span class="badge muted">{t.inactive}</span>}
      </th>
      <td>
        <select
          aria-label={fill(t.roleOf, { name: m.displayName })}
          value={m.role ?? "COUNSELLOR"}
          disabled={self}
          onChange={(e) => act(t.saved, () => call(ChangeRole, { input: { id: m.id, role: e.currentTarget.value as StaffRole } }))}
        >
          <option value="COUNSELLOR">{t.roleCOUNSELLOR}</option>
          <option value="ADMIN">{t.roleADMIN}</option>
        </select>
      </td>
      <td data-testid="invitation">{m.invitationStatus ? t[`invite${m.invitationStatus}`] : "—"}</td>
      <td>{when(m.lastLoginAt)}</td>
      <td>{m.primaryClientCount ?? 0}</td>
      <td>
        {m.invitationStatus !== "REGISTERED" && m.active !== false && (
          <button type="button" class="secondary" onClick={() => act(t.invitationSent, () => call(InviteCounsellor, { id: m.id }))}>
            {t.resendInvitation}
            <span class="sr-only"> {m.displayName}</span>
          </button>
        )}
      </td>
    </tr>
  );
}

/** A counsellor created without a password: the service mails them an invitation to set one. */
function InviteCounsellorForm({ invited }: { invited: (name: string) => void }) {
  const { call } = useStamm();
  const [error, setError] = useState<unknown>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const input = {
      displayName: String(data.get("displayName")).trim(),
      email: String(data.get("email")).trim(),
      role: data.get("role") === "ADMIN" ? ("ADMIN" as const) : ("COUNSELLOR" as const),
    };
    call(CreateCounsellor, { input }).then(() => (form.reset(), setError(null), invited(input.displayName)), setError);
  };
  return (
    <section aria-labelledby="invite-title" class="panel narrow">
      <h2 id="invite-title">{t.inviteCounsellor}</h2>
      <p>{t.inviteCounsellorNote}</p>
      <form onSubmit={submit}>
        <label for="invite-name">{t.displayName}</label>
        <input id="invite-name" name="displayName" required />
        <label for="invite-email">{t.email}</label>
        <input id="invite-email" name="email" type="email" required autocomplete="off" />
        <label for="invite-role">{t.role}</label>
        <select id="invite-role" name="role">
          <option value="COUNSELLOR">{t.roleCOUNSELLOR}</option>
          <option value="ADMIN">{t.roleADMIN}</option>
        </select>
        <button type="submit">{t.sendInvitation}</button>
        <Notice error={error} />
      </form>
    </section>
  );
}
