// German or English, as the browser's Accept-Language (navigator.languages) prefers; German
// when it names neither, since the services Stamm serves speak German.
export type Lang = "de" | "en";

export function chooseLang(preferred: readonly string[] = navigator.languages): Lang {
  for (const tag of preferred) {
    const primary = tag.toLowerCase().split("-")[0];
    if (primary === "de" || primary === "en") return primary;
  }
  return "de";
}

/** `{name}` placeholders filled from `values`. */
export function fill(text: string, values: Record<string, string | number>): string {
  return text.replace(/\{(\w+)\}/g, (_, key: string) => String(values[key] ?? ""));
}
