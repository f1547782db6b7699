// <stamm-chat-widget endpoint="https://…/graphql" lang="de">: Stamm's chat widget, rendered into
// a shadow root so that neither the host page's CSS nor ours leaks across.
import { render } from "preact";
import css from "./widget.css?inline";
import { textsFor } from "./texts";
import { Widget } from "./Widget";

class StammChatWidget extends HTMLElement {
  static observedAttributes = ["endpoint", "lang"];
  private mount: HTMLElement | null = null;

  connectedCallback(): void {
    if (!this.mount) {
      const root = this.attachShadow({ mode: "open" });
      const style = document.createElement("style");
      style.textContent = css;
      this.mount = document.createElement("div");
      root.append(style, this.mount);
    }
    this.draw();
  }

  disconnectedCallback(): void {
    if (this.mount) render(null, this.mount);
  }

  attributeChangedCallback(): void {
    if (this.mount && this.isConnected) this.draw();
  }

  private draw(): void {
    const endpoint = this.getAttribute("endpoint") ?? "/graphql";
    // A new endpoint is a new widget: the key drops the old one's connection and state.
    render(<Widget key={endpoint} endpoint={endpoint} t={textsFor(this.getAttribute("lang"))} />, this.mount!);
  }
}

if (!customElements.get("stamm-chat-widget")) customElements.define("stamm-chat-widget", StammChatWidget);
