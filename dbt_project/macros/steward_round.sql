{#- A double rounded to `digits` places, still a double: postgres rounds only numerics. -#}
{% macro steward_round(expression, digits) -%}
    {{ return(adapter.dispatch('steward_round')(expression, digits)) }}
{%- endmacro %}

{% macro default__steward_round(expression, digits) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}

{% macro postgres__steward_round(expression, digits) -%}
    round(({{ expression }})::numeric, {{ digits }})::double precision
{%- endmacro %}
