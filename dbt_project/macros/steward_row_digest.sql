{#- A digest of every value of the row `alias` names in a FROM clause, NULLs and their places
    included: equal digests, the same row (a 64-bit hash on DuckDB, md5 on PostgreSQL). -#}
{% macro steward_row_digest(alias) -%}
    {{ return(adapter.dispatch('steward_row_digest')(alias)) }}
{%- endmacro %}

{% macro default__steward_row_digest(alias) -%}
    hash({{ alias }})
{%- endmacro %}

{% macro postgres__steward_row_digest(alias) -%}
    md5(({{ alias }})::text)
{%- endmacro %}
