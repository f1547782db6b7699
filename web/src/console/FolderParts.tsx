// The Klientenmappe's tabs beyond the profile: Notizen, Dokumente, Monitoring.
import { useRef, useState } from "preact/hooks";
import type { Channel, EntryFieldsFragment, NoteFieldsFragment, TopicFieldsFragment } from "../gql/graphql";
import { executeUpload } from "../shared/api";
import { fill } from "../shared/i18n";
import {
  AddMonitoringEntry,
  AddNote,
  DeleteDocument,
  DeleteMonitoringEntry,
  DeleteNote,
  Documents,
  EditNote,
  MonitoringEntries,
  MonitoringTopics,
  Notes,
  UpdateMonitoringEntry,
  UploadDocument,
} from "./ops";
import { ENDPOINT, useStamm } from "./session";
import { t } from "./texts";
import { Confirm, localInput, Notice, sizeText, useLoad, usePages, when } from "./util";

const PAGE = 10;

interface FolderPart {
  client: { id: string; displayName: string };
}

/** Authors and admins may change or delete what a counsellor wrote or uploaded. */
function useMayChange(): (authorId: string | null | undefined) => boolean {
  const { session } = useStamm();
  return (authorId) => session.role === "ADMIN" || authorId === session.counsellorId;
}

function More({ more }: { more: (() => void) | null }) {
  return more ? (
    <button type="button" class="secondary" onClick={more}>
      {t.showMore}
    </button>
  ) : null;
}

export function NotesPanel({ client }: FolderPart) {
  const { call } = useStamm();
  const mayChange = useMayChange();
  const notes = usePages((after) => call(Notes, { id: client.id, first: PAGE, after }).then((r) => r.client?.notes), [client.id]);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const done = () => (setError(null), setEditing(null), notes.reload());
  const add = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const text = String(new FormData(form).get("text")).trim();
    if (!text) return;
    call(AddNote, { input: { clientId: client.id, text } }).then(() => (form.reset(), done()), setError);
  };
  return (
    <section aria-labelledby="notes-title">
      <h2 id="notes-title">{t.tabNotes}</h2>
      <form onSubmit={add}>
        <label for="note-new">{t.newNote}</label>
        <textarea id="note-new" name="text" rows={3} required class="wide" />
        <button type="submit">{t.addNote}</button>
      </form>
      <Notice error={error || notes.error} />
      {notes.loaded && notes.items.length === 0 && <p>{t.noNotes}</p>}
      <ol class="entries" data-testid="notes" aria-live="polite">
        {notes.items.map((note) => (
          <li key={note.id}>
            {editing === note.id ? (
              <NoteEditor note={note} done={done} cancel={() => setEditing(null)} fail={setError} />
            ) : (
              <p class="text">{note.text}</p>
            )}
            <small>
              {note.author?.displayName ?? t.unknownAuthor} · <time dateTime={note.createdAt}>{when(note.createdAt)}</time>
              {note.editedAt && ` · ${fill(t.edited, { when: when(note.editedAt) })}`}
            </small>
            {mayChange(note.author?.id) && editing !== note.id && (
              <div class="actions">
                <button type="button" class="secondary" onClick={() => setEditing(note.id)}>
                  {t.edit}
                  <span class="sr-only"> {t.note}</span>
                </button>
                <Confirm label={t.delete} subject={t.note} question={t.deleteNoteQuestion} run={() => call(DeleteNote, { id: note.id }).then(done, setError)} />
              </div>
            )}
          </li>
        ))}
      </ol>
      <More more={notes.more} />
    </section>
  );
}

function NoteEditor({ note, done, cancel, fail }: { note: NoteFieldsFragment; done: () => void; cancel: () => void; fail: (e: unknown) => void }) {
  const { call } = useStamm();
  const save = (event: Event) => {
    event.preventDefault();
    const text = String(new FormData(event.currentTarget as HTMLFormElement).get("text")).trim();
    call(EditNote, { input: { id: note.id, text } }).then(done, fail);
  };
  return (
    <form onSubmit={save} onKeyDown={(e) => e.key === "Escape" && cancel()}>
      <label for={`note-${note.id}`}>{t.editNote}</label>
      <textarea id={`note-${note.id}`} name="text" rows={3} required class="wide" defaultValue={note.text} autoFocus />
      <div class="actions">
        <button type="submit">{t.save}</button>
        <button type="button" class="secondary" onClick={cancel}>
          {t.cancel}
        </button>
      </div>
    </form>
  );
}

export function DocumentsPanel({ client }: FolderPart) {
  const { call, session } = useStamm();
  const mayChange = useMayChange();
  const documents = usePages((after) => call(Documents, { id: client.id, first: PAGE, after }).then((r) => r.client?.documents), [client.id]);
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const upload = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const file = new FormData(form).get("file");
    if (!(file instanceof File) || !file.name) return;
    setBusy(true);
    executeUpload(ENDPOINT, UploadDocument, { clientId: client.id, file: null }, "file", file, session.token)
      .then(
        (r) => (form.reset(), setError(null), setOk(fill(t.uploaded, { name: r.uploadDocument.fileName })), documents.reload()),
        (failure: unknown) => (setError(failure), setOk(null)),
      )
      .finally(() => setBusy(false));
  };
  return (
    <section aria-labelledby="documents-title">
      <h2 id="documents-title">{t.tabDocuments}</h2>
      <form onSubmit={upload}>
        <label for="document-file">{t.file}</label>
        <input id="document-file" name="file" type="file" required accept=".pdf,.png,.jpg,.jpeg,.txt,.docx,.odt" aria-describedby="document-hint" />
        <small id="document-hint" class="hint">
          {t.fileHint}
        </small>
        <button type="submit" disabled={busy}>
          {t.upload}
        </button>
      </form>
      <Notice error={error || documents.error} ok={ok} />
      {documents.loaded && documents.items.length === 0 ? (
        <p>{t.noDocuments}</p>
      ) : (
        <table class="list" data-testid="documents">
          <thead>
            <tr>
              <th scope="col">{t.file}</th>
              <th scope="col">{t.size}</th>
              <th scope="col">{t.uploadedBy}</th>
              <th scope="col">{t.uploadedAt}</th>
              <th scope="col">{t.actions}</th>
            </tr>
          </thead>
          <tbody>
            {documents.items.map((doc) => (
              <tr key={doc.id}>
                <td>
                  {/* The link is signed and short-lived: the list is read again whenever the tab opens. */}
                  <a href={doc.downloadUrl} download={doc.fileName}>
                    {doc.fileName}
                  </a>{" "}
                  <small>{doc.contentType}</small>
                </td>
                <td>{sizeText(doc.sizeBytes)}</td>
                <td>{doc.uploadedBy?.displayName ?? "—"}</td>
                <td>{when(doc.uploadedAt)}</td>
                <td>
                  {mayChange(doc.uploadedBy?.id) && (
                    <Confirm
                      label={t.delete}
                      subject={doc.fileName}
                      question={fill(t.deleteDocumentQuestion, { name: doc.fileName })}
                      run={() => call(DeleteDocument, { id: doc.id }).then(() => (setOk(null), documents.reload()), setError)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <More more={documents.more} />
    </section>
  );
}

export function MonitoringPanel({ client }: FolderPart) {
  const { call } = useStamm();
  const mayChange = useMayChange();
  const { data: catalogue } = useLoad(() => call(MonitoringTopics, {}), []);
  const entries = usePages((after) => call(MonitoringEntries, { id: client.id, first: PAGE, after }).then((r) => r.client?.monitoringEntries), [client.id]);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const topics = catalogue?.monitoringTopics ?? [];
  const done = () => (setError(null), setEditing(null), entries.reload());
  return (
    <section aria-labelledby="monitoring-title">
      <h2 id="monitoring-title">{t.tabMonitoring}</h2>
      <details class="panel">
        <summary>{t.addEntry}</summary>
        <EntryForm id="entry-new" clientId={client.id} topics={topics} done={done} fail={setError} />
      </details>
      <Notice error={error || entries.error} />
      {entries.loaded && entries.items.length === 0 && <p>{t.noEntries}</p>}
      <ol class="entries" data-testid="monitoring-entries">
        {entries.items.map((entry) => (
          <li key={entry.id}>
            <strong>
              <time dateTime={entry.contactAt}>{when(entry.contactAt)}</time> · {t[`channel${entry.channel}`]} · {fill(t.minutes, { count: entry.durationMinutes })}
            </strong>
            <p>
              {t.topics}: {entry.topics.map((topic) => (topic.parent ? `${topic.parent.name}: ${topic.name}` : topic.name)).join(", ") || "—"}
            </p>
            {entry.outcome && (
              <p>
                {t.outcome}: {entry.outcome}
              </p>
            )}
            {entry.note && <p class="text">{entry.note}</p>}
            <small>{entry.counsellor?.displayName ?? t.unknownAuthor}</small>
            {editing === entry.id && <EntryForm id={`entry-${entry.id}`} clientId={client.id} topics={topics} entry={entry} done={done} fail={setError} cancel={() => setEditing(null)} />}
            {mayChange(entry.counsellor?.id) && editing !== entry.id && (
              <div class="actions">
                <button type="button" class="secondary" onClick={() => setEditing(entry.id)}>
                  {t.edit}
                  <span class="sr-only"> {when(entry.contactAt)}</span>
                </button>
                <Confirm
                  label={t.delete}
                  subject={when(entry.contactAt)}
                  question={t.deleteEntryQuestion}
                  run={() => call(DeleteMonitoringEntry, { id: entry.id }).then(done, setError)}
                />
              </div>
            )}
          </li>
        ))}
      </ol>
      <More more={entries.more} />
    </section>
  );
}

interface EntryFormProps {
  id: string;
  clientId: string;
  topics: TopicFieldsFragment[];
  entry?: EntryFieldsFragment;
  done: () => void;
  fail: (error: unknown) => void;
  cancel?: () => void;
}

/** Adds an entry, or changes `entry`: when, channel, duration, topics from the catalogue, outcome, note. */
function EntryForm({ id, clientId, topics, entry, done, fail, cancel }: EntryFormProps) {
  const { call } = useStamm();
  const chosen = new Set(entry?.topics.map((topic) => topic.id));
  const form = useRef<HTMLFormElement>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const fields = {
      contactAt: new Date(String(data.get("contactAt"))).toISOString(),
      channel: String(data.get("channel")) as Channel,
      durationMinutes: Number(data.get("duration")),
      topicIds: data.getAll("topic").map(String),
      outcome: String(data.get("outcome")).trim() || null,
      note: String(data.get("note")).trim() || null,
    };
    if (fields.topicIds.length === 0) return fail(new Error(t.chooseTopic));
    const saved = entry ? call(UpdateMonitoringEntry, { input: { id: entry.id, ...fields } }) : call(AddMonitoringEntry, { input: { clientId, ...fields } });
    saved.then(() => (entry ? undefined : form.current?.reset(), done()), fail);
  };
  // Inactive topics cannot be chosen anew, but stay ticked on an entry that has them.
  const offered = (topic: { id: string; active: boolean }) => topic.active || chosen.has(topic.id);
  return (
    <form ref={form} class="entry-form" onSubmit={submit} aria-label={entry ? t.editEntry : t.addEntry} onKeyDown={(e) => e.key === "Escape" && cancel?.()}>
      <div class="columns">
        <div>
          <label for={`${id}-at`}>{t.contactAt}</label>
          <input id={`${id}-at`} name="contactAt" type="datetime-local" required defaultValue={localInput(entry?.contactAt ?? new Date().toISOString())} />
        </div>
        <div>
          <label for={`${id}-channel`}>{t.channel}</label>
          <select id={`${id}-channel`} name="channel" defaultValue={entry?.channel ?? "CHAT"}>
            <option value="CHAT">{t.channelCHAT}</option>
            <option value="MAIL">{t.channelMAIL}</option>
          </select>
        </div>
        <div>
          <label for={`${id}-duration`}>{t.duration}</label>
          <input id={`${id}-duration`} name="duration" type="number" min={1} required defaultValue={String(entry?.durationMinutes ?? 30)} />
        </div>
      </div>
      {topics.length === 0 && <p>{t.noTopics}</p>}
      {topics.filter(offered).map((category) => (
        <fieldset key={category.id}>
          <legend>{category.name}</legend>
          {(category.children.length ? category.children : [category]).filter(offered).map((topic) => (
            <label key={topic.id} class="inline">
              <input type="checkbox" name="topic" value={topic.id} defaultChecked={chosen.has(topic.id)} /> {topic.name}
            </label>
          ))}
        </fieldset>
      ))}
      <label for={`${id}-outcome`}>{t.outcome}</label>
      <input id={`${id}-outcome`} name="outcome" class="wide" defaultValue={entry?.outcome ?? ""} />
      <label for={`${id}-note`}>{t.entryNote}</label>
      <textarea id={`${id}-note`} name="note" rows={2} class="wide" defaultValue={entry?.note ?? ""} />
      <div class="actions">
        <button type="submit">{entry ? t.save : t.addEntry}</button>
        {cancel && (
          <button type="button" class="secondary" onClick={cancel}>
            {t.cancel}
          </button>
        )}
      </div>
    </form>
  );
}
