"""The jinja2 template of ``report.html`` (inline CSS only; no external resources)."""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ name }} · Shipyard report</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem 2rem; color: #222; line-height: 1.45; }
header { border-bottom: 2px solid #ddd; margin-bottom: 1rem; }
nav ol { columns: 2; }
section.report-section { border-top: 1px solid #eee; padding: 0.5rem 0 1rem; }
.finding { background: #fff7e6; border-left: 4px solid #f0a030; padding: 0.4rem 0.8rem; margin: 0.4rem 0; }
section.section-failed { background: #fdecea; }
.failure { background: #fdecea; border-left: 4px solid #c62828; padding: 0.4rem 0.8rem; margin: 0.4rem 0; font-weight: bold; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-style: italic; color: #555; }
figure { margin: 0.8rem 0; }
figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9rem; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
</style>
</head>
<body>
<header>
<h1>{{ name }}</h1>
<p>Run <code>{{ run }}</code> · task: {{ task }} · report built {{ created }} by Shipyard {{ version }}</p>
{% if status %}<p class="failure" id="run-status">{{ status }}</p>
{% endif %}<nav><ol>{% for s in sections %}<li><a href="#{{ s.id }}">{{ s.title }}</a></li>{% endfor %}</ol></nav>
</header>
{% for s in sections %}
<section class="report-section{% if s.failed %} section-failed{% endif %}" id="{{ s.id }}"{% if s.failed %} data-failed="true"{% endif %}>
<h2>{{ s.title }}</h2>
{% if s.failed %}<p class="failure">{{ s.failed }}</p>
{% endif %}
{% for f in s.findings %}<p class="finding">{{ f }}</p>
{% endfor %}
{% for p in s.paragraphs %}<p>{{ p }}</p>
{% endfor %}
{% for t in s.tables %}<table>{% if t.caption %}<caption>{{ t.caption }}</caption>{% endif %}
<thead><tr>{% for h in t.header %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in t.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% endfor %}
{% for fig in s.figures %}<figure><img src="{{ fig.data_uri }}" alt="{{ fig.caption }}"><figcaption>{{ fig.caption }}</figcaption></figure>
{% endfor %}
{% for text in s.preformatted %}<pre>{{ text }}</pre>
{% endfor %}
</section>
{% endfor %}
</body>
</html>
"""
