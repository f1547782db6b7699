import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Client } from "graphql-ws";
import type { LinkState } from "../shared/api";
import type { TypedDocumentString } from "../gql/graphql";

export const ENDPOINT = "/graphql";
const KEY = "stamm.console.session";

export interface Session {
  token: string;
  counsellorId: string;
  displayName: string;
  role: "ADMIN" | "COUNSELLOR";
}

/** Kept per browser tab (sessionStorage): closing the tab forgets the token. */
export function loadSession(): Session | null {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Session | null;
  } catch {
    return null;
  }
}

export function storeSession(session: Session | null): void {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}

export interface Stamm {
  session: Session;
  ws: Client;
  link: LinkState;
  call: <R, V>(document: TypedDocumentString<R, V>, variables: V) => Promise<R>;
}

export const StammContext = createContext<Stamm | null>(null);

export function useStamm(): Stamm {
  const stamm = useContext(StammContext);
  if (!stamm) throw new Error("useStamm outside a signed-in console");
  return stamm;
}
