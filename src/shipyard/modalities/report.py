"""Report sections of text and image runs: the input's data checks, token attributions, saliency maps, misclassified images and perturbation curves.

Each builder reads only run-directory files (``data_profile.json``,
``explain.json``, ``attack.json``, ``predictions.csv``, and for images
``preparation/images.npz``) and returns None for runs of another input, so
``shipyard report RUN`` rebuilds them without the model.
"""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from shipyard.report.sections import Figure, ReportContext, Section, Table, register_section  # noqa: E402

CHARS_PER_LINE = 110
SHOWN_TEXTS = 8


def _input(ctx: ReportContext) -> str:
    model = ctx.recipe.get("model", {})
    return {"transformer": "text", "cnn": "image"}.get(model.get("type", "mlp"), "tabular")


# --- text -----------------------------------------------------------------------------------


@register_section("text_data", "Text data checks", order=15)
def text_data_section(ctx: ReportContext) -> Section | None:
    """Token lengths and the truncation rate, duplicates kept on one side of the split, encoding problems."""
    if _input(ctx) != "text" or not ctx.has("data_profile.json"):
        return None
    text = ctx.json("data_profile.json").get("text")
    if not text:
        return None
    tokens, chars, trunc = text["tokens"], text["characters"], text["truncated"]
    dup, near, enc = text["exact_duplicates"], text["near_duplicates"], text["encoding"]
    section = Section(
        paragraphs=[
            f"Column '{text['column']}': {chars['median']:.0f} characters and {tokens['median']:.0f} tokens per text at the median "
            f"(95th percentile {tokens['p95']:.0f} tokens, longest {tokens['max']}). At model.max_length {text['max_length']}, "
            + ", ".join(f"{v['fraction']:.1%} of {part} texts" for part, v in trunc.items())
            + " are truncated.",
            f"{dup['surplus_rows']} surplus exact duplicates ({dup['distinct_texts']} distinct texts) and {near['groups']} groups of "
            f"near-duplicates ({near['rows']} rows, differing only in case, punctuation or spacing) are each kept on one side of the split; "
            f"a row-level split would have put {near['row_split_leak']} test texts beside a near-copy in training. "
            f"Groups with conflicting labels: {dup['conflicting_label_groups']} exact, {near['conflicting_label_groups']} near. "
            f"Empty texts: {text['empty']['count']}, whitespace-only: {text['empty']['whitespace_only']}. "
            f"Texts with C1 control characters: {enc['c1_control']}; with U+FFFD: {enc['replacement_character']}.",
        ]
    )
    copies = text.get("near_copies_across_split")
    if copies:
        section.paragraphs.append(
            f"{copies['count']} validation and test texts ({copies['fraction']:.1%}) still have a near-copy in training (cosine >= {copies['threshold']} "
            "of character 3-5-gram TF-IDF vectors: templates differing in a number or a name); scores on them may be optimistic."
        )
        if copies["examples"]:
            section.tables.append(
                Table(["text outside training", "its nearest training text", "cosine"],
                      [[textwrap.shorten(e["text"], 90), textwrap.shorten(e["training_text"], 90), f"{e['similarity']:.3f}"] for e in copies["examples"]], "Near-copies across the split")
            )
    hist = text["token_histogram"]
    edges = np.asarray(hist["edges"])
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(edges[:-1], hist["counts"], width=np.diff(edges), align="edge", color="#4c72b0")
    ax.axvline(text["max_length"], color="#c44e52", linestyle="--", label=f"max_length {text['max_length']}")
    ax.set(xlabel="tokens per text (before truncation)", ylabel="texts", title="text lengths")
    ax.legend()
    section.figures.append(Figure.from_matplotlib(fig, "Tokens per text of all rows; texts right of the dashed line are truncated."))
    return section


def _words(tokens: list[str], values: list[float]) -> list[tuple[str, float]]:
    """Merge word pieces (``##x``) into words, summing their attributions; drop special tokens."""
    words: list[list[Any]] = []
    for token, value in zip(tokens, values):
        if token in ("[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>"):
            continue
        if token.startswith("##") and words:
            words[-1][0] += token[2:]
            words[-1][1] += value
        else:
            words.append([token, value])
    return [(w, float(v)) for w, v in words]


def highlighted_texts(items: list[dict[str, Any]], unit: str) -> Any:
    """A figure of texts with each word's background coloured by its attribution (red: raises the explained output; blue: lowers it)."""
    from matplotlib.colors import TwoSlopeNorm

    layouts, n_lines = [], 0
    for item in items:
        lines: list[list[tuple[str, float]]] = [[]]
        width = 0
        for word, value in _words(item["tokens"], item["attributions"]):
            if width + len(word) + 1 > CHARS_PER_LINE and lines[-1]:
                lines.append([])
                width = 0
            lines[-1].append((word, value))
            width += len(word) + 1
        layouts.append(lines)
        n_lines += len(lines) + 2
    scale = max((abs(v) for lines in layouts for line in lines for _, v in line), default=1.0) or 1.0
    norm, cmap = TwoSlopeNorm(0.0, -scale, scale), plt.get_cmap("coolwarm")
    line_height = 0.24
    fig = plt.figure(figsize=(11, max(1.0, n_lines * line_height)))
    step = 1.0 / max(n_lines, 1)
    char = 0.98 / CHARS_PER_LINE
    y = 1.0 - step
    for item, lines in zip(items, layouts):
        proba = max(item["probabilities"])
        fig.text(0.0, y, f"test row {item['test_position']}: true {item['true']}, predicted {item['predicted']} (p={proba:.3f}); "
                 f"{unit} {item['output']:+.2f} vs baseline {item['baseline_output']:+.2f}", fontsize=8, family="monospace", weight="bold")
        y -= step
        for line in lines:
            x = 0.0
            for word, value in line:
                fig.text(x, y, word, fontsize=9, family="monospace", bbox={"facecolor": cmap(norm(value)), "edgecolor": "none", "pad": 1.0})
                x += (len(word) + 1) * char
            y -= step
        y -= step
    return fig


@register_section("text_attributions", "Token attributions", order=82)
def text_attributions_section(ctx: ReportContext) -> Section | None:
    """Integrated-Gradients attributions of sampled test texts, highlighted, and the tokens with the largest mean attribution."""
    if not ctx.has("explain.json"):
        return None
    ex = ctx.json("explain.json")
    if ex.get("kind") != "text":
        return None
    items = ex["texts"]
    section = Section(
        paragraphs=[
            f"{ex['method']}, explaining the {ex['output']} of {ex['n_texts']} test texts against a baseline of {ex['baseline']} "
            f"({ex['n_steps']} steps). Completeness: each text's attributions sum to output - baseline output within "
            f"{ex['max_abs_delta']:.2e} ({ex.get('completeness_error', 0):.1%} of the larger of that difference and 1). "
            "Red words raise the explained output, blue words lower it."
        ]
    )
    section.figures.append(Figure.from_matplotlib(highlighted_texts(items[:SHOWN_TEXTS], ex["output"]), f"The first {min(SHOWN_TEXTS, len(items))} explained test texts."))
    glob = ex["global"]
    toward, against = glob["toward"][:12], glob["against"][:12]
    if toward or against:
        fig, ax = plt.subplots(figsize=(7, 0.3 * (len(toward) + len(against)) + 1))
        rows = toward[::-1] + against
        ax.barh([f"{r['token']} ({r['count']})" for r in rows], [r["mean"] for r in rows], color=["#c44e52" if r["mean"] > 0 else "#4c72b0" for r in rows])
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set(xlabel=f"mean attribution ({ex['output']})", title="tokens with the largest mean attribution")
        section.figures.append(Figure.from_matplotlib(fig, "Over the explained texts, tokens seen at least twice (count in brackets)."))
    section.tables.append(
        Table(
            ["test row", "true", "predicted", "p", "text"],
            [[i["test_position"], i["true"], i["predicted"], f"{max(i['probabilities']):.3f}", textwrap.shorten(i["text"], 120)] for i in items],
            "Explained test texts",
        )
    )
    return section


@register_section("perturbation", "Robustness to perturbed inputs", order=85)
def perturbation_section(ctx: ReportContext) -> Section | None:
    """Accuracy against the perturbation strength: typos and word deletion for text, FGSM and PGD in pixel space for images (``attack.json``)."""
    if not ctx.has("attack.json"):
        return None
    rob = ctx.json("attack.json")
    if rob.get("kind") == "text":
        return _text_robustness(rob)
    if rob.get("kind") == "image":
        return _image_robustness(ctx, rob)
    return None


def _text_robustness(rob: dict[str, Any]) -> Section:
    rates = rob["rates"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for kind, style in (("typos", "o-"), ("word_deletion", "s--")):
        curve = rob["curves"][kind]
        ax.errorbar(rates, curve["accuracy"], yerr=curve["accuracy_std"], fmt=style, capsize=3, label=kind.replace("_", " "))
    ax.set(xlabel="rate", ylabel="accuracy", title=f"accuracy under text perturbations ({rob['samples']} test texts)")
    ax.legend()
    header = ["rate"] + [f"{k.replace('_', ' ')} accuracy" for k in rob["curves"]] + ([f"{k.replace('_', ' ')} F1" for k in rob["curves"]] if rob["clean"].get("f1") is not None else [])
    rows = []
    for i, rate in enumerate(rates):
        row = [f"{rate:g}"] + [f"{c['accuracy'][i]:.4f} ± {c['accuracy_std'][i]:.4f}" for c in rob["curves"].values()]
        if rob["clean"].get("f1") is not None:
            row += [f"{c['f1'][i]:.4f}" for c in rob["curves"].values()]
        rows.append(row)
    section = Section(
        paragraphs=[f"{rob['method']}. Mean ± standard deviation over {rob['repeats']} random draws per rate."],
        tables=[Table(header, rows, f"F1 of '{rob['positive_label']}'" if rob.get("positive_label") else "")],
        figures=[Figure.from_matplotlib(fig, "Accuracy of the network on perturbed test texts against the perturbation rate.")],
    )
    for example in rob.get("examples", [])[-1:]:
        section.preformatted.append(
            f"rate {example['rate']:g}\noriginal:      {example['original']}\ntypos:         {example['typos']}\nword deletion: {example['word_deletion']}"
        )
    return section


def _image_robustness(ctx: ReportContext, rob: dict[str, Any]) -> Section:
    epsilons = rob["epsilons"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epsilons, rob["curves"]["fgsm"], "o-", label="FGSM")
    ax.plot(epsilons, rob["curves"]["pgd"], "s--", label=f"PGD ({rob['pgd_steps']} steps)")
    ax.set(xlabel="epsilon (L-infinity, pixel units)", ylabel="accuracy", title=f"accuracy under attack ({rob['samples']} test images)")
    ax.legend()
    rows = [[f"{e:g}", f"{f:.4f}", f"{p:.4f}"] for e, f, p in zip(epsilons, rob["curves"]["fgsm"], rob["curves"]["pgd"])]
    section = Section(
        paragraphs=[rob["method"] + "."],
        tables=[Table(["epsilon", "FGSM accuracy", "PGD accuracy"], rows)],
        figures=[Figure.from_matplotlib(fig, "Test accuracy against the attack budget.")],
    )
    examples = rob.get("examples", [])
    if examples:
        grid = _image_grid([np.asarray(e["image"]) for e in examples], [f"eps {e['epsilon']:g}" for e in examples], columns=len(examples))
        section.figures.append(Figure.from_matplotlib(grid, f"One test image (true: {rob.get('true')}) under PGD at each epsilon."))
    return section


# --- images -----------------------------------------------------------------------------------


def _show(ax: Any, image: np.ndarray) -> None:
    """Draw one image (channels, height, width) in [0, 1]."""
    image = np.asarray(image, dtype=float)
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray_r", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(image[:3].transpose(1, 2, 0), 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])


def _image_grid(images: list[np.ndarray], titles: list[str], columns: int = 8) -> Any:
    columns = max(1, min(columns, len(images)))
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.axis("on")
        _show(ax, image)
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return fig


@register_section("image_errors", "Misclassified test images", order=52)
def misclassified_section(ctx: ReportContext) -> Section | None:
    """A grid of the test images the network gets wrong, with the true and predicted classes."""
    if not ctx.has("explain.json"):
        return None
    ex = ctx.json("explain.json")
    if ex.get("kind") != "image":
        return None
    wrong = ex["misclassified"]
    text = f"{ex['n_misclassified']} of {ex['n_test']} test images are misclassified" + (f"; the first {len(wrong)} are shown." if wrong else ".")
    section = Section(paragraphs=[text])
    if wrong:
        grid = _image_grid([np.asarray(w["image"]) for w in wrong], [f"{w['true']} → {w['predicted']} ({w['probability']:.2f})" for w in wrong])
        section.figures.append(Figure.from_matplotlib(grid, "true → predicted (probability of the prediction)"))
    return section


@register_section("image_saliency", "Saliency maps", order=82)
def saliency_section(ctx: ReportContext) -> Section | None:
    """Integrated-Gradients saliency of sampled test images beside the images, and the mean |saliency| over more test images."""
    if not ctx.has("explain.json"):
        return None
    ex = ctx.json("explain.json")
    if ex.get("kind") != "image":
        return None
    items = ex["saliency"]
    fig, axes = plt.subplots(2, len(items), figsize=(1.4 * len(items), 3.2), squeeze=False)
    for j, item in enumerate(items):
        _show(axes[0, j], np.asarray(item["image"]))
        axes[0, j].set_title(f"{item['true']} → {item['predicted']}", fontsize=7)
        heat = np.asarray(item["map"])
        scale = np.abs(heat).max() or 1.0
        axes[1, j].imshow(heat, cmap="coolwarm", vmin=-scale, vmax=scale)
        axes[1, j].set_xticks([])
        axes[1, j].set_yticks([])
    fig.tight_layout()
    section = Section(
        paragraphs=[
            f"{ex['method']}, explaining the {ex['output']} ({ex['n_steps']} steps; completeness within {ex['max_abs_delta']:.2e}, "
            f"{ex.get('completeness_error', 0):.1%} of the larger of output - baseline output and 1). "
            "Red pixels raise the predicted class's log-probability, blue pixels lower it."
        ],
        figures=[Figure.from_matplotlib(fig, "Test images (top) and their saliency maps (bottom).")],
    )
    mean = np.asarray(ex["mean_abs_saliency"])
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(mean, cmap="viridis")
    ax.set(title="mean |saliency|", xticks=[], yticks=[])
    section.figures.append(Figure.from_matplotlib(fig, f"Mean absolute attribution per pixel over {ex['n_explained']} test images: where the network looks."))
    return section


@register_section("image_data", "Image data checks", order=15)
def image_data_section(ctx: ReportContext) -> Section | None:
    """Shape, value range, per-channel statistics, duplicates and constant images."""
    if _input(ctx) != "image" or not ctx.has("data_profile.json"):
        return None
    images = ctx.json("data_profile.json").get("images")
    if not images:
        return None
    channels, height, width = images["shape"]
    source = images["source_shape"]
    resized = f", resized from {source[0]}x{source[1]}" if images["resized"] else ""
    return Section(
        paragraphs=[
            f"Images of {height}x{width} pixels with {channels} channel(s){resized}; raw values span [{images['raw_range'][0]:g}, {images['raw_range'][1]:g}] "
            f"and are divided by {images['max_value']:g} into [0, 1]. Training pixels: mean {', '.join(f'{m:.3f}' for m in images['train_mean'])}, "
            f"std {', '.join(f'{s:.3f}' for s in images['train_std'])} per channel (the network's first step standardises with these). "
            f"Identical images: {images['duplicates']['surplus_images']} surplus, kept on one side of the split; with conflicting labels: "
            f"{images['duplicates']['conflicting_label_groups']}. Constant images: {images['constant_images']}."
        ]
    )
