"""The catalogue as DCAT-AP 3 (JSON-LD, Turtle), built with rdflib; docs/data.md has the mapping.

Controlled values use the EU Publications Office authority tables that DCAT-AP names
(frequency, access-right, file-type, language); the catalogue's information items become a
CSV on the Web table schema (csvw) of the distribution; the sharing type and its condition,
which DCAT has no word for, are a rights statement plus `cdata:sharingType`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from urllib.parse import quote

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from cityops.data.catalogue import from_us
from cityops.data.models import Resource

EU = "http://publications.europa.eu/resource/authority/"
CSVW = Namespace("http://www.w3.org/ns/csvw#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
CDATA = Namespace("https://cityops.org/ns/data#")
FREQUENCY = {"实时": "UPDATE_CONT", "每小时": "HOURLY", "每日": "DAILY", "每周": "WEEKLY", "每月": "MONTHLY",
             "每季度": "QUARTERLY", "每半年": "ANNUAL_2", "每年": "ANNUAL", "不定期": "IRREG"}
ACCESS = {"开放": "PUBLIC", "有条件开放": "RESTRICTED", "不开放": "NON_PUBLIC"}
FILE_TYPE = {"CSV": "CSV", "JSON": "JSON", "XLSX": "XLSX", "XLS": "XLS", "XML": "XML", "PDF": "PDF",
             "SHP": "SHP", "GEOJSON": "GEOJSON"}
DATATYPE = {"C": XSD.string, "N": XSD.decimal, "Y": XSD.decimal, "D": XSD.date, "T": XSD.dateTime,
            "L": XSD.boolean, "M": XSD.string, "B": XSD.base64Binary, "G": XSD.string}


def _iri(base: str, *parts: str) -> URIRef:
    return URIRef(base.rstrip("/") + "/" + "/".join(quote(p, safe="") for p in parts))


def _authority(g: Graph, table: str, code: str, cls: URIRef) -> URIRef:
    node = URIRef(f"{EU}{table}/{code}")
    g.add((node, RDF.type, cls))
    return node


def graph(resources: Sequence[Resource], base: str, city_name: str, operator: str) -> Graph:
    """The DCAT-AP catalogue of `resources`; IRIs under `base` (the server's address)."""
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("skos", SKOS), ("csvw", CSVW),
                       ("vcard", VCARD), ("cdata", CDATA)):
        g.bind(prefix, ns)
    catalog = _iri(base, "dcat", "catalog")
    zho = _authority(g, "language", "ZHO", DCTERMS.LinguisticSystem)
    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.title, Literal(f"{city_name}城市运行数据资源目录", lang="zh")))
    g.add((catalog, DCTERMS.title, Literal(f"{city_name} city-operation data resource catalogue", lang="en")))
    g.add((catalog, DCTERMS.description, Literal("一本账：平台自有数据资源与各部门登记的政务数据资源。", lang="zh")))
    g.add((catalog, DCTERMS.description, Literal(
        "One ledger of the platform's own data and the resources other departments registered.", lang="en")))
    g.add((catalog, DCTERMS.publisher, _agent(g, base, operator, "operator")))
    g.add((catalog, DCTERMS.language, zho))
    g.add((catalog, FOAF.homepage, _document(g, _iri(base, ""))))
    scheme = _iri(base, "dcat", "themes")
    g.add((scheme, RDF.type, SKOS.ConceptScheme))
    g.add((scheme, DCTERMS.title, Literal("数据资源主题", lang="zh")))
    g.add((catalog, DCAT.themeTaxonomy, scheme))
    if resources:
        g.add((catalog, DCTERMS.modified, Literal(from_us(max(r.modified for r in resources)).isoformat(),
                                                  datatype=XSD.dateTime)))
    for r in resources:
        g.add((catalog, DCAT.dataset, _dataset(g, base, r, scheme, zho)))
    return g


def _document(g: Graph, node: URIRef) -> URIRef:
    g.add((node, RDF.type, FOAF.Document))
    return node


def _agent(g: Graph, base: str, name: str, code: str) -> URIRef:
    key = code or hashlib.sha256(name.encode()).hexdigest()[:16]
    node = _iri(base, "dcat", "agent", key)
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, FOAF.name, Literal(name, lang="zh")))
    return node


def _dataset(g: Graph, base: str, r: Resource, scheme: URIRef, zho: URIRef) -> URIRef:
    ds = _iri(base, "dcat", "dataset", r.code)
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(r.code)))
    g.add((ds, DCTERMS.title, Literal(r.name, lang="zh")))
    g.add((ds, DCTERMS.description, Literal(r.description or r.name, lang="zh")))
    g.add((ds, DCTERMS.publisher, _agent(g, base, r.provider, r.provider_code)))
    contact = BNode()  # whom to ask: the providing department
    g.add((contact, RDF.type, VCARD.Kind))  # the class the shapes check (no inference)
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, VCARD.fn, Literal(r.provider, lang="zh")))
    g.add((ds, DCAT.contactPoint, contact))
    g.add((ds, DCTERMS.issued, Literal(r.published, datatype=XSD.date)))
    g.add((ds, DCTERMS.modified, Literal(from_us(r.modified).isoformat(), datatype=XSD.dateTime)))
    g.add((ds, DCTERMS.accrualPeriodicity, _authority(g, "frequency", FREQUENCY[r.update_cycle], DCTERMS.Frequency)))
    g.add((ds, DCTERMS.accessRights, _authority(g, "access-right", ACCESS[r.openness], DCTERMS.RightsStatement)))
    g.add((ds, DCTERMS.language, zho))
    g.add((ds, DCAT.landingPage, _document(g, _iri(base, "api", "v1", "data", "resources", r.code))))
    g.add((ds, CDATA.sharingType, Literal(r.sharing, lang="zh")))
    if r.sharing_condition:
        g.add((ds, CDATA.sharingCondition, Literal(r.sharing_condition, lang="zh")))
    if r.openness_condition:
        g.add((ds, CDATA.opennessCondition, Literal(r.openness_condition, lang="zh")))
    if r.classification:
        g.add((ds, CDATA.classification, Literal(r.classification, lang="zh")))
    for word in r.keywords.split():
        g.add((ds, DCAT.keyword, Literal(word, lang="zh")))
    if r.theme:
        concept = _iri(base, "dcat", "theme", r.theme)
        g.add((concept, RDF.type, SKOS.Concept))
        g.add((concept, SKOS.prefLabel, Literal(r.theme, lang="zh")))
        g.add((concept, SKOS.inScheme, scheme))
        g.add((ds, DCAT.theme, concept))
    g.add((ds, DCAT.distribution, _distribution(g, base, r)))
    return ds


def _distribution(g: Graph, base: str, r: Resource) -> URIRef:
    dist = _iri(base, "dcat", "dataset", r.code, "distribution")
    g.add((dist, RDF.type, DCAT.Distribution))
    access = URIRef(_iri(base, "api", "3", "action", "package_show") + "?id=" + quote(r.code))
    g.add((access, RDF.type, RDFS.Resource))  # DCAT-AP's range check wants the class said
    g.add((dist, DCAT.accessURL, access))
    g.add((dist, DCTERMS.title, Literal(f"{r.name}（{r.format}）", lang="zh")))
    if r.format.upper() in FILE_TYPE:
        g.add((dist, DCTERMS.format, _authority(g, "file-type", FILE_TYPE[r.format.upper()],
                                                DCTERMS.MediaTypeOrExtent)))
    else:  # 数据库, 接口: no file type; said as text
        fmt = BNode()
        g.add((fmt, RDF.type, DCTERMS.MediaTypeOrExtent))
        g.add((fmt, RDFS.label, Literal(r.format, lang="zh")))
        g.add((dist, DCTERMS.format, fmt))
    rights = BNode()
    g.add((rights, RDF.type, DCTERMS.RightsStatement))
    g.add((rights, RDFS.label, Literal(f"{r.sharing}{'：' + r.sharing_condition if r.sharing_condition else ''}",
                                       lang="zh")))
    g.add((dist, DCTERMS.rights, rights))
    if r.items:
        schema = BNode()
        g.add((dist, CSVW.tableSchema, schema))
        for item in r.items:
            col = BNode()
            g.add((schema, CSVW.column, col))
            g.add((col, CSVW.name, Literal(item.name)))
            g.add((col, CSVW.datatype, DATATYPE.get(item.type, XSD.string)))
            g.add((col, CDATA.itemType, Literal(item.type)))
            if item.description:
                g.add((col, CSVW.title, Literal(item.description, lang="zh")))
    return dist


def serialise(g: Graph, fmt: str) -> bytes:
    """Turtle or JSON-LD (compacted with the prefixes bound above)."""
    if fmt == "ttl":
        return g.serialize(format="turtle").encode()
    wanted = ("dcat", "dct", "foaf", "skos", "csvw", "cdata", "vcard", "rdfs", "xsd")
    context = {p: str(ns) for p, ns in g.namespaces() if p in wanted}
    return g.serialize(format="json-ld", context=context, auto_compact=True).encode()
