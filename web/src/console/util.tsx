import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../shared/api";
import { fill } from "../shared/i18n";
import { lang, t } from "./texts";

export function errorText(error: unknown): string {
  const message = error instanceof ApiError || error instanceof Error ? error.message : String(error);
  return fill(t.error, { message });
}

/** An error or success line that screen readers announce. */
export function Notice({ error, ok }: { error?: unknown; ok?: string | null }) {
  if (error) return <p class="notice error" role="alert">{errorText(error)}</p>;
  if (ok) return <p class="notice ok" role="status">{ok}</p>;
  return null;
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString(lang) : "—";
}

/** Runs `load` on mount and whenever `deps` change; `reload` runs it again. */
export function useLoad<R>(load: () => Promise<R>, deps: unknown[]): { data: R | null; error: unknown; reload: () => void } {
  const [data, setData] = useState<R | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    load().then(
      (result) => current && (setData(result), setError(null)),
      (failure: unknown) => current && setError(failure),
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  return { data, error, reload: () => setRound((r) => r + 1) };
}

export interface Page<N> {
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
  edges: { node: N }[];
}

/**
 * A connection read page by page: the first page on mount (and on `reload`), further pages
 * appended by `more` (null when there are none).
 */
export function usePages<N>(
  fetchPage: (after: string | null) => Promise<Page<N> | null | undefined>,
  deps: unknown[],
): { items: N[]; more: (() => void) | null; error: unknown; loaded: boolean; reload: () => void } {
  const [items, setItems] = useState<N[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    fetchPage(null).then(
      (page) => {
        if (!current) return;
        setItems(page?.edges.map((e) => e.node) ?? []);
        setNext(page?.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? null) : null);
        setLoaded(true);
        setError(null);
      },
      (failure: unknown) => current && setError(failure),
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  const more =
    next === null
      ? null
      : () =>
          void fetchPage(next).then((page) => {
            setItems((list) => [...list, ...(page?.edges.map((e) => e.node) ?? [])]);
            setNext(page?.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? null) : null);
          }, setError);
  return { items, more, error, loaded, reload: () => setRound((r) => r + 1) };
}

/**
 * A button whose action runs only after a second, explicit yes: the question and the yes and
 * cancel buttons replace it in place (the yes button takes the focus; Escape cancels).
 */
export function Confirm({ label, subject, question, run }: { label: string; subject: string; question: string; run: () => unknown }) {
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => void (asking && yes.current?.focus()), [asking]);
  if (!asking)
    return (
      <button type="button" class="secondary" onClick={() => setAsking(true)}>
        {label}
        <span class="sr-only"> {subject}</span>
      </button>
    );
  return (
    <span class="confirm" role="group" aria-label={question} onKeyDown={(e) => e.key === "Escape" && setAsking(false)}>
      <span>{question}</span>{" "}
      <button
        ref={yes}
        type="button"
        class="danger"
        onClick={() => {
          setAsking(false);
          run();
        }}
      >
        {fill(t.confirmYes, { action: label })}
      </button>{" "}
      <button type="button" class="secondary" onClick={() => setAsking(false)}>
        {t.cancel}
      </button>
    </span>
  );
}

/** A date-time as a datetime-local input shows it (the browser's time zone). */
export function localInput(iso: string): string {
  const date = new Date(iso);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

export function sizeText(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
