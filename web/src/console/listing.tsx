// The pieces a filtered, paged list shares: cursor paging, the pager, search and choice fields, the table.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { t } from "./texts";

export type Paging = {
  /** The cursor of the page shown (null: the first page). */
  after: string | null;
  /** Wraps a filter setter so that a changed filter starts again at the first page. */
  restart: <T>(set: (value: T) => void) => (value: T) => void;
  hasPrevious: boolean;
  previous: () => void;
  next: (endCursor: string | null | undefined) => void;
};

export function usePaging(): Paging {
  // The cursors of the pages before this one: "previous" pops, "next" pushes.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return {
    after: cursors[cursors.length - 1],
    restart: (set) => (value) => (set(value), setCursors([null])),
    hasPrevious: cursors.length > 1,
    previous: () => setCursors((c) => c.slice(0, -1)),
    next: (endCursor) => setCursors((c) => [...c, endCursor ?? null]),
  };
}

export function Pager({ label, paging, pageInfo }: { label: string; paging: Paging; pageInfo: { hasNextPage: boolean; endCursor?: string | null } }) {
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" disabled={!paging.hasPrevious} onClick={paging.previous}>
        {t.previous}
      </button>
      <button type="button" disabled={!pageInfo.hasNextPage} onClick={() => paging.next(pageInfo.endCursor)}>
        {t.next}
      </button>
    </nav>
  );
}

export function SearchField({ id, value, onInput }: { id: string; value: string; onInput: (value: string) => void }) {
  return (
    <>
      <label for={id}>{t.search}</label>
      <input id={id} type="search" placeholder={t.searchHint} value={value} onInput={(e) => onInput(e.currentTarget.value)} />
    </>
  );
}

/** A labelled select over `choices`; with `any`, a first option "" that stands for no choice. */
export function ChoiceSelect<V extends string>(props: {
  id: string;
  label: string;
  value: V | "";
  choices: readonly V[];
  labelOf: (choice: V) => string;
  any?: boolean;
  onChange: (value: V) => void;
}) {
  const { id, label, value, choices, labelOf, any, onChange } = props;
  return (
    <>
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value as V)}>
        {any && <option value="">{t.any}</option>}
        {choices.map((choice) => (
          <option key={choice} value={choice}>
            {labelOf(choice)}
          </option>
        ))}
      </select>
    </>
  );
}

export function ListTable({ headers, testId, children }: { headers: string[]; testId?: string; children: ComponentChildren }) {
  return (
    <table class="list" data-testid={testId}>
      <thead>
        <tr>
          {headers.map((header) => (
            <th key={header} scope="col">
              {header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}
