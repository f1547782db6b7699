// Admins: the monitoring catalogue (categories and their options) and the statistics for funders.
import { useState } from "preact/hooks";
import type { MonitoringStatisticsQuery, TopicFieldsFragment } from "../gql/graphql";
import { fill } from "../shared/i18n";
import { AddMonitoringTopic, MonitoringStatistics, MonitoringTopics, UpdateMonitoringTopic } from "./ops";
import { useStamm } from "./session";
import { t } from "./texts";
import { Notice, useLoad } from "./util";

export function MonitoringAdmin() {
  return (
    <div>
      <h1>{t.navMonitoring}</h1>
      <Catalogue />
      <Statistics />
    </div>
  );
}

function Catalogue() {
  const { call } = useStamm();
  const { data, error: loadError, reload } = useLoad(() => call(MonitoringTopics, {}), []);
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState<string | null>(null);
  const topics = data?.monitoringTopics ?? [];
  const saved = (promise: Promise<unknown>, form?: HTMLFormElement) =>
    promise.then(
      () => (form?.reset(), setError(null), setOk(t.saved), reload()),
      (failure: unknown) => (setError(failure), setOk(null)),
    );
  const add = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    saved(call(AddMonitoringTopic, { input: { name: String(data.get("name")).trim(), parentId: String(data.get("parent")) || null } }), form);
  };
  return (
    <section aria-labelledby="catalogue-title">
      <h2 id="catalogue-title">{t.catalogue}</h2>
      <Notice error={error || loadError} ok={ok} />
      {data && topics.length === 0 && <p>{t.noTopics}</p>}
      <ul class="catalogue" data-testid="catalogue">
        {topics.map((category) => (
          <li key={category.id}>
            <TopicLine topic={category} save={saved} />
            {category.children.length > 0 && (
              <ul>
                {category.children.map((option) => (
                  <li key={option.id}>
                    <TopicLine topic={option} save={saved} />
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
      <form class="filters" onSubmit={add} aria-labelledby="topic-add-title">
        <h3 id="topic-add-title" class="sr-only">
          {t.addTopic}
        </h3>
        <div>
          <label for="topic-parent">{t.topicParent}</label>
          <select id="topic-parent" name="parent">
            <option value="">{t.newCategory}</option>
            {topics.map((category) => (
              <option key={category.id} value={category.id}>
                {category.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="topic-name">{t.topicName}</label>
          <input id="topic-name" name="name" required />
        </div>
        <button type="submit">{t.addTopic}</button>
      </form>
    </section>
  );
}

function TopicLine({ topic, save }: { topic: Pick<TopicFieldsFragment, "id" | "name" | "active">; save: (p: Promise<unknown>, form?: HTMLFormElement) => void }) {
  const { call } = useStamm();
  const rename = (event: Event) => {
    event.preventDefault();
    const name = String(new FormData(event.currentTarget as HTMLFormElement).get("name")).trim();
    save(call(UpdateMonitoringTopic, { input: { id: topic.id, name } }));
  };
  return (
    <form class="topic" onSubmit={rename} data-topic={topic.name}>
      <input name="name" aria-label={fill(t.renameTopic, { name: topic.name })} defaultValue={topic.name} key={topic.name} required />
      <button type="submit" class="secondary">
        {t.save}
        <span class="sr-only"> {topic.name}</span>
      </button>
      <button type="button" class="secondary" onClick={() => save(call(UpdateMonitoringTopic, { input: { id: topic.id, active: !topic.active } }))}>
        {topic.active ? t.deactivate : t.activate}
        <span class="sr-only"> {topic.name}</span>
      </button>
      {!topic.active && <span class="badge muted">{t.inactive}</span>}
    </form>
  );
}

type Row = MonitoringStatisticsQuery["monitoringStatistics"][number];

function firstOfMonth(monthsBack: number): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - monthsBack, 1)).toISOString().slice(0, 10);
}

function Statistics() {
  const { call, session } = useStamm();
  const [range, setRange] = useState({ from: firstOfMonth(2), to: new Date().toISOString().slice(0, 10), byCounsellor: false });
  const [rows, setRows] = useState<Row[] | null>(null);
  // Whether the rows shown were asked for by counsellor (the checkbox may have changed since).
  const [perCounsellor, setPerCounsellor] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const show = (event: Event) => {
    event.preventDefault();
    call(MonitoringStatistics, { from: `${range.from}T00:00:00Z`, to: `${range.to}T23:59:59Z`, byCounsellor: range.byCounsellor }).then(
      (r) => (setRows(r.monitoringStatistics), setPerCounsellor(range.byCounsellor), setError(null)),
      setError,
    );
  };
  // The export needs the bearer token: fetch it, then hand the browser the file to save.
  const download = async () => {
    const query = new URLSearchParams({ from: range.from, to: range.to, byCounsellor: String(range.byCounsellor) });
    try {
      const response = await fetch(`/exports/monitoring.csv?${query}`, { headers: { Authorization: `Bearer ${session.token}` } });
      if (!response.ok) throw new Error(`${response.status} ${(await response.text()).slice(0, 200)}`);
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = `monitoring-${range.from}-${range.to}.csv`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <section aria-labelledby="statistics-title">
      <h2 id="statistics-title">{t.statistics}</h2>
      <form class="filters" onSubmit={show}>
        <div>
          <label for="stats-from">{t.from}</label>
          <input id="stats-from" type="date" required value={range.from} onInput={(e) => setRange({ ...range, from: e.currentTarget.value })} />
        </div>
        <div>
          <label for="stats-to">{t.to}</label>
          <input id="stats-to" type="date" required value={range.to} onInput={(e) => setRange({ ...range, to: e.currentTarget.value })} />
        </div>
        <label class="inline">
          <input type="checkbox" checked={range.byCounsellor} onChange={(e) => setRange({ ...range, byCounsellor: e.currentTarget.checked })} /> {t.byCounsellor}
        </label>
        <button type="submit">{t.showStatistics}</button>
        <button type="button" class="secondary" onClick={download}>
          {t.downloadCsv}
        </button>
      </form>
      <p class="hint">{t.statisticsNote}</p>
      <Notice error={error} />
      {rows && rows.length === 0 && <p role="status">{t.noStatistics}</p>}
      {rows && rows.length > 0 && (
        <table class="list" data-testid="statistics">
          <thead>
            <tr>
              <th scope="col">{t.month}</th>
              <th scope="col">{t.channel}</th>
              <th scope="col">{t.topic}</th>
              {perCounsellor && <th scope="col">{t.counsellor}</th>}
              <th scope="col">{t.contacts}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row, index) => (
              <tr key={index}>
                <td>{row.month}</td>
                <td>{t[`channel${row.channel}`]}</td>
                <td>{row.topic.parent ? `${row.topic.parent.name}: ${row.topic.name}` : row.topic.name}</td>
                {perCounsellor && <td>{row.counsellor?.displayName ?? "—"}</td>}
                <td>{row.suppressed ? t.suppressed : row.contacts}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
