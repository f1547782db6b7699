import { useEffect, useState } from "preact/hooks";
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
