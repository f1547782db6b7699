import { render } from "preact";
import { App } from "./App";
import { Invitation } from "./Invitation";
import { lang, t } from "./texts";
import "./styles.css";

document.documentElement.lang = lang;
document.title = t.appName;
// The same bundle serves the invitation page (graph/web.py answers /invitation with it).
render(location.pathname.startsWith("/invitation") ? <Invitation /> : <App />, document.getElementById("app")!);
