{#- The reference time for "recent" features: the `as_of` var when given, else now. -#}
{% macro as_of() -%}
    {%- if var('as_of', none) -%}
        timestamp '{{ var("as_of") }}'
    {%- else -%}
        current_timestamp::timestamp
    {%- endif -%}
{%- endmacro %}
