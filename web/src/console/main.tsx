import { render } from "preact";
import { App } from "./App";
import { lang, t } from "./texts";
import "./styles.css";

document.documentElement.lang = lang;
document.title = t.appName;
render(<App />, document.getElementById("app")!);
