const svg=document.getElementById('lineage-graph');
const info=document.getElementById('focus');
function focusOn(n){const key=n.dataset.key;const rel=JSON.parse(n.dataset.related);
const lit=new Set([key,...rel.up,...rel.down]);svg.classList.add('focused');
svg.querySelectorAll('.node').forEach(m=>m.classList.toggle('lit',lit.has(m.dataset.key)));
svg.querySelectorAll('.edge').forEach(e=>e.classList.toggle('lit',
lit.has(e.dataset.from)&&lit.has(e.dataset.to)));
info.innerHTML='<b>'+key+'</b> — upstream: '+(rel.up.join(', ')||'none')+
'; downstream: '+(rel.down.join(', ')||'none')+' · <a href="#asset-'+key+'">catalog entry</a>';}
svg.querySelectorAll('.node').forEach(n=>n.addEventListener('click',()=>focusOn(n)));
document.getElementById('clear').addEventListener('click',()=>{svg.classList.remove('focused');
info.textContent='Click an asset to follow its lineage.';});
const wanted=new URLSearchParams(location.hash.slice(1)).get('focus');
const start=wanted&&[...svg.querySelectorAll('.node')].find(n=>n.dataset.key===wanted);
if(start){focusOn(start);}
