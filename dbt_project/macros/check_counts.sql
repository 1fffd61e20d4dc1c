{#- A group's check evaluations: passed, failed (error severity, blocking), warned. -#}
{% macro check_counts() -%}
    count(*) filter (where passed) as checks_passed,
        count(*) filter (where not passed and severity = 'ERROR') as checks_failed,
        count(*) filter (where not passed and severity = 'WARN') as checks_warned
{%- endmacro %}
